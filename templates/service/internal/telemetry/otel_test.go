package telemetry

import (
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The standard OTEL_* environment wins over the service's configuration, and the provider
// becomes the global one.
func TestProviderHonoursTheStandardEnvironment(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	spans := tracetest.NewInMemoryExporter()
	p, err := NewProvider(t.Context(), "configured", "i-1", "v1", sdktrace.WithSyncer(spans))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Shutdown(t.Context()) }()
	if otel.GetTracerProvider() != p.Provider() {
		t.Error("the provider is not the global TracerProvider")
	}
	_, span := p.Tracer().Start(t.Context(), "x")
	if span.IsRecording() {
		t.Error("OTEL_TRACES_SAMPLER=always_off still records")
	}
	span.End()

	t.Setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
	p2, err := NewProvider(t.Context(), "configured", "i-1", "v1", sdktrace.WithSyncer(spans))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p2.Shutdown(t.Context()) }()
	_, span = p2.Tracer().Start(t.Context(), "y")
	span.End()
	got := spans.GetSpans()
	if len(got) != 1 {
		t.Fatalf("%d spans exported, want 1", len(got))
	}
	want := map[attribute.Key]string{
		"service.name":                "from-env",
		"deployment.environment.name": "staging",
		"service.instance.id":         "i-1",
		"service.version":             "v1",
	}
	for _, kv := range got[0].Resource.Attributes() {
		if w, ok := want[kv.Key]; ok {
			if kv.Value.AsString() != w {
				t.Errorf("%s = %q, want %q", kv.Key, kv.Value.AsString(), w)
			}
			delete(want, kv.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("resource lacks %v", want)
	}
}
