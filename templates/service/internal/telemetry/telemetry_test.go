package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestTraceContextAndBaggageRoundTrip(t *testing.T) {
	in := http.Header{}
	in.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	in.Set("tracestate", "vendor=opaque")
	in.Set("baggage", "tenant=t1")
	ctx := Extract(context.Background(), in)
	out := http.Header{}
	Inject(ctx, out)
	for _, k := range []string{"traceparent", "tracestate", "baggage"} {
		if out.Get(k) != in.Get(k) {
			t.Errorf("%s: got %q, want %q", k, out.Get(k), in.Get(k))
		}
	}
}

func TestMalformedTraceparentsAreRefused(t *testing.T) {
	for _, h := range []string{
		"",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	} {
		ctx := Extract(context.Background(), http.Header{"Traceparent": {h}})
		if trace.SpanContextFromContext(ctx).IsValid() {
			t.Errorf("accepted %q", h)
		}
	}
}

func TestChildKeepsTraceAndStateAndMakesNewSpan(t *testing.T) {
	ctx := Extract(context.Background(), http.Header{
		"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
		"Tracestate":  {"vendor=opaque"},
	})
	parent := trace.SpanContextFromContext(ctx)
	child := ChildSpanContext(parent)
	if child.TraceID() != parent.TraceID() || child.SpanID() == parent.SpanID() || child.IsSampled() ||
		child.TraceState().String() != "vendor=opaque" {
		t.Fatalf("child %v of %v", child, parent)
	}
	root := ChildSpanContext(trace.SpanContext{})
	if !root.IsValid() || root.IsSampled() {
		t.Fatalf("new root %v: want a valid, unsampled trace", root)
	}
}

func TestLoggerCarriesRequestAndTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, nil))
	sc := ChildSpanContext(trace.SpanContext{})
	ctx := WithRequest(context.Background(), "r-1", sc)
	Logger(ctx, base).Info("hello")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["request_id"] != "r-1" || line["trace_id"] != sc.TraceID().String() {
		t.Fatalf("log line %v", line)
	}
}

// The standard sampler variables decide for a trace this instance starts; a parent-based one
// keeps the caller's decision; unset, new traces are sampled only when spans are exported.
func TestLocalSpanContextSamplesAsOTELTracesSamplerSays(t *testing.T) {
	sampled := Extract(context.Background(), http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	unsampled := Extract(context.Background(), http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}})
	root := context.Background()
	for _, c := range []struct {
		name, arg string
		exporting bool
		// want: sampled for (root, sampled parent, unsampled parent)
		root, fromSampled, fromUnsampled bool
	}{
		{"", "", false, false, true, false},
		{"", "", true, true, true, false},
		{"always_on", "", false, true, true, true},
		{"always_off", "", true, false, false, false},
		{"parentbased_always_on", "", false, true, true, false},
		{"parentbased_traceidratio", "0", true, false, true, false},
		{"traceidratio", "1", false, true, true, true},
	} {
		s, err := ParseSampler(c.name, c.arg, c.exporting)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := [3]bool{LocalSpanContext(root, s).IsSampled(), LocalSpanContext(sampled, s).IsSampled(), LocalSpanContext(unsampled, s).IsSampled()}
		if got != [3]bool{c.root, c.fromSampled, c.fromUnsampled} {
			t.Errorf("OTEL_TRACES_SAMPLER=%q ARG=%q exporting=%v: sampled (root, from -01, from -00) = %v", c.name, c.arg, c.exporting, got)
		}
	}
	for _, bad := range [][2]string{{"jaeger_remote", ""}, {"traceidratio", "2"}, {"traceidratio", "half"}} {
		if _, err := ParseSampler(bad[0], bad[1], false); err == nil {
			t.Errorf("OTEL_TRACES_SAMPLER=%q ARG=%q accepted", bad[0], bad[1])
		}
	}
}

// answering is a context that answers through a RequestInfo first, as the middleware's does.
type answering struct {
	context.Context
	ri *RequestInfo
}

func (a answering) Value(key any) any {
	if v, ok := a.ri.Answer(key); ok {
		return v
	}
	return a.Context.Value(key)
}

// A request identity kept in a RequestInfo is found as if it were in context values: the
// request ID, the span context, and the span itself by OpenTelemetry's own lookups, so the
// propagator sends this service's span ID downstream.
func TestRequestInfoAnswersAsContextValuesWould(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: [16]byte{0x4b, 0xf9, 1}, SpanID: [8]byte{0xf0, 0x67, 2}, TraceFlags: trace.FlagsSampled})
	var ri RequestInfo
	ctx := answering{ri.InitLocal(context.Background(), "req-1", sc), &ri}
	if id := RequestID(ctx); id != "req-1" {
		t.Errorf("RequestID = %q, want req-1", id)
	}
	if got := SpanContext(ctx); !got.Equal(sc) {
		t.Errorf("SpanContext = %v, want %v", got, sc)
	}
	if got := trace.SpanFromContext(ctx).SpanContext(); !got.Equal(sc) {
		t.Errorf("trace.SpanFromContext(ctx).SpanContext() = %v, want %v", got, sc)
	}
	out := http.Header{}
	Inject(ctx, out)
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; out.Get("traceparent") != want {
		t.Errorf("traceparent sent %q, want %q", out.Get("traceparent"), want)
	}
	if spanKey == nil {
		t.Error("the span's context key was not learnt: every request pays a context value for its span")
	}
}
