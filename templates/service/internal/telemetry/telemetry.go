// Package telemetry carries per-request identity (request ID, W3C trace context) through
// contexts, gives handlers a logger that prints both, and sets up the OpenTelemetry
// TracerProvider (the exporters that feed it are in internal/telemetry/spanexport).
//
// Trace context travels with the SDK's W3C propagators (traceparent, tracestate, baggage).
// Without an exporter the service still propagates it: it continues an incoming trace with a
// span ID of its own and the caller's sampling decision, and passes that on to the services it
// calls, so traces stay connected across services with zero setup and no span is recorded.
// A trace it starts itself is sampled only as OTEL_TRACES_SAMPLER says (by default not, when
// nothing is exported): no `-01` leaves an instance that records nothing.
package telemetry

import (
	"context"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// propagator is W3C Trace Context plus W3C Baggage, the OpenTelemetry default; Setup makes it
// the global one too, so any otel instrumentation added to the service uses the same.
var propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(
	propagation.TraceContext{}, propagation.Baggage{})

// Propagator returns the W3C trace-context + baggage propagator the service uses.
func Propagator() propagation.TextMapPropagator { return propagator }

// requestInfo is the per-request identity, stored in one context value (one allocation) and
// read by loggers and outgoing calls.
type requestInfo struct {
	id    string
	span  trace.SpanContext
	local localSpan
}

type requestKey struct{}

// localSpan is the span of a request when nothing is exported: it records nothing and only
// carries the span context, so trace.SpanFromContext, tracers and propagators see it.
type localSpan struct {
	noop.Span
	sc trace.SpanContext
}

// SpanContext is the local span's own context.
func (s *localSpan) SpanContext() trace.SpanContext { return s.sc }

// WithLocalSpan stores the request ID in ctx, with sc as the current (non-recording) span;
// the span lives in the same allocation as the request's identity.
func WithLocalSpan(ctx context.Context, id string, sc trace.SpanContext) context.Context {
	ri := &requestInfo{id: id, span: sc}
	ri.local.sc = sc
	return context.WithValue(trace.ContextWithSpan(ctx, &ri.local), requestKey{}, ri)
}

// RequestInfo is a request's identity kept by its owner instead of in context values of its
// own: the middleware embeds one in its per-request state and has its context's Value consult
// [RequestInfo.Answer], saving the two allocations of [WithLocalSpan].
type RequestInfo struct{ info requestInfo }

// InitLocal sets ri up as WithLocalSpan would (request ID id, sc as the current non-recording
// span) and returns the context to build on: the context built above it must answer
// Value(key) through ri.Answer, for RequestID, SpanContext and trace.SpanFromContext to find ri.
func (ri *RequestInfo) InitLocal(ctx context.Context, id string, sc trace.SpanContext) context.Context {
	ri.info = requestInfo{id: id, span: sc}
	ri.info.local.sc = sc
	if spanKey == nil {
		return trace.ContextWithSpan(ctx, &ri.info.local)
	}
	return ctx
}

// Answer returns ri's identity when key is the one RequestID and SpanContext look up, and its
// span when key is the one trace.SpanFromContext looks up.
func (ri *RequestInfo) Answer(key any) (any, bool) {
	switch key {
	case requestKey{}:
		return &ri.info, true
	case spanKey:
		if spanKey != nil {
			return trace.Span(&ri.info.local), true
		}
	}
	return nil, false
}

// spanKey is the context key OpenTelemetry keeps the current span under (unexported there),
// learnt by asking trace.SpanFromContext which key it looks up; nil if it asks none, and
// then InitLocal stores the span with trace.ContextWithSpan.
var spanKey = func() any {
	probe := keyProbe{Context: context.Background()}
	trace.SpanFromContext(&probe)
	return probe.key
}()

// keyProbe is a context that remembers the key it was asked for.
type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(key any) any {
	p.key = key
	return nil
}

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

// ChildSpanContext makes the span context of this service's own span: the parent's trace ID
// and sampling decision (or a new, unsampled trace when there is no valid parent) and a fresh
// span ID. It is [LocalSpanContext] with parentbased_always_off.
func ChildSpanContext(parent trace.SpanContext) trace.SpanContext {
	return LocalSpanContext(trace.ContextWithRemoteSpanContext(context.Background(), parent), nil)
}

// Extract reads the caller's W3C trace context (traceparent, tracestate) and baggage from h
// into ctx, with the SDK's propagators. A malformed or missing header leaves ctx as it was.
func Extract(ctx context.Context, h http.Header) context.Context {
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// Inject writes ctx's span (traceparent, tracestate) and baggage into h for an outgoing call,
// so the callee's span becomes a child of ctx's span.
func Inject(ctx context.Context, h http.Header) {
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// TraceID returns the hex trace ID in ctx, or "".
func TraceID(ctx context.Context) string {
	if sc := SpanContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// Logger returns base with the request's request_id, trace_id and span_id attached, so every
// line a handler logs can be joined to the access log, the caller's logs and the trace.
func Logger(ctx context.Context, base *slog.Logger) *slog.Logger {
	attrs := make([]any, 0, 6)
	if id := RequestID(ctx); id != "" {
		attrs = append(attrs, "request_id", id)
	}
	if sc := SpanContext(ctx); sc.IsValid() {
		attrs = append(attrs, "trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
	}
	if len(attrs) == 0 {
		return base
	}
	return base.With(attrs...)
}
