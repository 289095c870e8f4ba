// Package telemetry carries per-request identity (request ID, W3C trace context) through
// contexts, gives handlers a logger that prints both, and sets up OpenTelemetry export.
//
// Without OTEL_EXPORTER_OTLP_ENDPOINT the service still propagates trace context: it parses
// an incoming traceparent, makes a child span ID for itself and passes its own span on to the
// services it calls, so traces stay connected across hale services with zero setup.
package telemetry

import (
	"context"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"

	"go.opentelemetry.io/otel/trace"
)

// TraceparentHeader is the W3C Trace Context request header.
const TraceparentHeader = "traceparent"

// requestInfo is the per-request identity, stored in one context value (one allocation) and
// read by loggers and outgoing calls.
type requestInfo struct {
	id   string
	span trace.SpanContext
}

type requestKey struct{}

// WithRequest stores the request ID and this service's span context in ctx.
func WithRequest(ctx context.Context, id string, span trace.SpanContext) context.Context {
	return context.WithValue(ctx, requestKey{}, &requestInfo{id: id, span: span})
}

// WithRequestID stores only a request ID in ctx.
func WithRequestID(ctx context.Context, id string) context.Context {
	return WithRequest(ctx, id, trace.SpanContext{})
}

// RequestID returns the request ID in ctx, or "".
func RequestID(ctx context.Context) string {
	if ri, ok := ctx.Value(requestKey{}).(*requestInfo); ok {
		return ri.id
	}
	return ""
}

// SpanContext returns the span of the request ctx belongs to: the one the middleware made, or
// else an OpenTelemetry span in ctx. It is invalid outside a traced request.
func SpanContext(ctx context.Context) trace.SpanContext {
	if ri, ok := ctx.Value(requestKey{}).(*requestInfo); ok && ri.span.IsValid() {
		return ri.span
	}
	return trace.SpanContextFromContext(ctx)
}

// NewRequestID returns 16 random bytes in hex. Request IDs need to be unique, not secret, so
// the runtime's fast per-thread generator is enough.
func NewRequestID() string {
	var b [16]byte
	fill(b[:])
	return hex.EncodeToString(b[:])
}

// ValidRequestID accepts a caller's X-Request-ID when it is short printable ASCII without
// spaces, so a hostile value cannot break log lines or headers.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func fill(b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := rand.Uint64()
		for j := i; j < i+8 && j < len(b); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
}

// ParseTraceparent reads a W3C traceparent header ("00-<trace-id>-<parent-id>-<flags>").
// It returns ok=false for anything malformed or all-zero, as the spec requires.
func ParseTraceparent(h string) (trace.SpanContext, bool) {
	// Version 00 is exactly 55 bytes; future versions may append fields after a '-'.
	if len(h) < 55 || (len(h) > 55 && h[55] != '-') {
		return trace.SpanContext{}, false
	}
	if h[2] != '-' || h[35] != '-' || h[52] != '-' || h[:2] == "ff" {
		return trace.SpanContext{}, false
	}
	if !lowerHex(h[:2]) || !lowerHex(h[3:35]) || !lowerHex(h[36:52]) || !lowerHex(h[53:55]) {
		return trace.SpanContext{}, false
	}
	if h[:2] == "00" && len(h) != 55 {
		return trace.SpanContext{}, false
	}
	var tid trace.TraceID
	var sid trace.SpanID
	var flags [1]byte
	_, _ = hex.Decode(tid[:], []byte(h[3:35]))
	_, _ = hex.Decode(sid[:], []byte(h[36:52]))
	_, _ = hex.Decode(flags[:], []byte(h[53:55]))
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     sid,
		TraceFlags: trace.TraceFlags(flags[0]),
		Remote:     true,
	})
	return sc, sc.IsValid()
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// FormatTraceparent writes sc as a version-00 traceparent header value.
func FormatTraceparent(sc trace.SpanContext) string {
	tid := sc.TraceID()
	sid := sc.SpanID()
	var b [55]byte
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags())})
	return string(b[:])
}

// ChildSpanContext makes the span context of this service's own span: the parent's trace ID
// (or a new one when there is no valid parent) and a fresh span ID. New traces are sampled.
func ChildSpanContext(parent trace.SpanContext) trace.SpanContext {
	cfg := trace.SpanContextConfig{TraceFlags: trace.FlagsSampled}
	if parent.IsValid() {
		cfg.TraceID = parent.TraceID()
		cfg.TraceFlags = parent.TraceFlags()
		cfg.TraceState = parent.TraceState()
	} else {
		for !cfg.TraceID.IsValid() {
			fill(cfg.TraceID[:])
		}
	}
	for !cfg.SpanID.IsValid() {
		fill(cfg.SpanID[:])
	}
	return trace.NewSpanContext(cfg)
}

// InjectTraceparent sets the traceparent header for an outgoing call made on behalf of ctx's
// span, so the callee's span becomes its child.
func InjectTraceparent(ctx context.Context, h http.Header) {
	if sc := SpanContext(ctx); sc.IsValid() {
		h["Traceparent"] = []string{FormatTraceparent(sc)} // canonical form of traceparent
	}
}

// TraceID returns the hex trace ID in ctx, or "".
func TraceID(ctx context.Context) string {
	if sc := SpanContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// Logger returns base with the request's request_id and trace_id attached, so every line a
// handler logs can be joined to the access log, the caller's logs and the trace.
func Logger(ctx context.Context, base *slog.Logger) *slog.Logger {
	attrs := make([]any, 0, 4)
	if id := RequestID(ctx); id != "" {
		attrs = append(attrs, "request_id", id)
	}
	if tid := TraceID(ctx); tid != "" {
		attrs = append(attrs, "trace_id", tid)
	}
	if len(attrs) == 0 {
		return base
	}
	return base.With(attrs...)
}
