package telemetry

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// SetGlobalPropagator makes the W3C trace-context + baggage propagator the global one, so
// instrumentation added to the service (otelhttp, database drivers) propagates the same way.
// It runs whether or not spans are exported.
func SetGlobalPropagator() { otel.SetTextMapPropagator(propagator) }

// Exporter is the service's TracerProvider; it is also installed as the global one.
type Exporter struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// OTLP protocols (OTEL_EXPORTER_OTLP_PROTOCOL and its per-signal form) the service speaks.
const (
	ProtocolHTTPProtobuf = "http/protobuf"
	ProtocolGRPC         = "grpc"
)

// NewProvider builds the TracerProvider with opts (a span processor at least), sets it as the
// global TracerProvider and the W3C propagator as the global propagator.
//
// The standard environment is honoured: the resource is service.name, service.instance.id
// and service.version from the service's configuration, overridden by OTEL_RESOURCE_ATTRIBUTES
// and OTEL_SERVICE_NAME; without a WithSampler option the SDK reads OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG itself (default parentbased_always_on).
func NewProvider(ctx context.Context, service, instance, version string, opts ...sdktrace.TracerProviderOption) (*Exporter, error) {
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(
			semconv.ServiceName(service),
			semconv.ServiceInstanceID(instance),
			semconv.ServiceVersion(version),
		),
		resource.WithFromEnv(), // last, so OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, fmt.Errorf("reading the OpenTelemetry resource (OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	tp := sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithResource(res)}, opts...)...)
	otel.SetTracerProvider(tp)
	SetGlobalPropagator()
	return &Exporter{provider: tp, tracer: tp.Tracer("http.server")}, nil
}

// Tracer is the tracer server spans are started with.
func (e *Exporter) Tracer() trace.Tracer { return e.tracer }

// Provider is the TracerProvider, for clients that start their own spans.
func (e *Exporter) Provider() trace.TracerProvider { return e.provider }

// Shutdown flushes buffered spans, giving up at ctx's deadline.
func (e *Exporter) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return e.provider.Shutdown(ctx)
}
