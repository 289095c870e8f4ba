package telemetry

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Exporter sends spans over OTLP/HTTP. The exporter reads the standard OTEL_EXPORTER_OTLP_*
// variables itself (endpoint, headers, TLS), so every option the SDK documents works here.
type Exporter struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// NewExporter starts a batching OTLP/HTTP span exporter for this service.
func NewExporter(ctx context.Context, service, instance, version string) (*Exporter, error) {
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("creating the OTLP/HTTP trace exporter: %w", err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(service),
		semconv.ServiceInstanceID(instance),
		semconv.ServiceVersion(version),
	)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		// Respect the caller's sampling decision; sample new traces.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	)
	return &Exporter{provider: tp, tracer: tp.Tracer("http.server")}, nil
}

// Tracer is the tracer server spans are started with.
func (e *Exporter) Tracer() trace.Tracer { return e.tracer }

// Shutdown flushes buffered spans, giving up at ctx's deadline.
func (e *Exporter) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return e.provider.Shutdown(ctx)
}
