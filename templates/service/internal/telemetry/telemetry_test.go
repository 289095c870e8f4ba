package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestTraceparentRoundTrips(t *testing.T) {
	in := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sc, ok := ParseTraceparent(in)
	if !ok {
		t.Fatal("valid header refused")
	}
	if got := FormatTraceparent(sc); got != in {
		t.Fatalf("round trip %q", got)
	}
}

func TestMalformedTraceparentsAreRefused(t *testing.T) {
	for _, h := range []string{
		"",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
	} {
		if _, ok := ParseTraceparent(h); ok {
			t.Errorf("accepted %q", h)
		}
	}
	// A later version may append fields; its first four are still read.
	if _, ok := ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"); !ok {
		t.Error("future version refused")
	}
}

func TestChildKeepsTraceAndMakesNewSpan(t *testing.T) {
	parent, _ := ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	child := ChildSpanContext(parent)
	if child.TraceID() != parent.TraceID() || child.SpanID() == parent.SpanID() || child.IsSampled() {
		t.Fatalf("child %v of %v", child, parent)
	}
	root := ChildSpanContext(trace.SpanContext{})
	if !root.IsValid() || !root.IsSampled() {
		t.Fatalf("new root %v", root)
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
