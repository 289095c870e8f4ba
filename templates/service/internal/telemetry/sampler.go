package telemetry

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Samplers lists the OTEL_TRACES_SAMPLER values the service understands.
var Samplers = []string{"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// ParseSampler reads OTEL_TRACES_SAMPLER (name) and OTEL_TRACES_SAMPLER_ARG (arg) as the
// OpenTelemetry environment specification defines them. Unset, the sampler is parent-based:
// a trace the caller sampled stays sampled, and a trace this service starts is sampled only
// when spans are exported (parentbased_always_on) — without an exporter nobody records it, so
// telling the services downstream to record it would be a lie (parentbased_always_off).
func ParseSampler(name, arg string, exporting bool) (sdktrace.Sampler, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		if exporting {
			return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
		}
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	}
	ratio := func() (float64, error) {
		if strings.TrimSpace(arg) == "" {
			return 1, nil // the specification's default
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a number from 0 to 1", arg)
		}
		return r, nil
	}
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio", "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(r), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER=%q: want one of %s", name, strings.Join(Samplers, ", "))
}

// LocalSpanContext makes the span context of this service's span when nothing is exported:
// the parent's trace (or a new one) and a fresh span ID, sampled as sampler decides — the
// same decision an exporting TracerProvider with that sampler would take. ctx carries the
// caller's span context, if any; a nil sampler is parentbased_always_off.
func LocalSpanContext(ctx context.Context, sampler sdktrace.Sampler) trace.SpanContext {
	parent := trace.SpanContextFromContext(ctx)
	cfg := trace.SpanContextConfig{TraceState: parent.TraceState()}
	if parent.IsValid() {
		cfg.TraceID = parent.TraceID()
	} else {
		for !cfg.TraceID.IsValid() {
			fill(cfg.TraceID[:])
		}
	}
	for !cfg.SpanID.IsValid() {
		fill(cfg.SpanID[:])
	}
	if sampler == nil {
		// parentbased_always_off without the SDK's bookkeeping: keep the caller's decision.
		cfg.TraceFlags = parent.TraceFlags() & trace.FlagsSampled
	} else {
		res := sampler.ShouldSample(sdktrace.SamplingParameters{
			ParentContext: ctx,
			TraceID:       cfg.TraceID,
			Kind:          trace.SpanKindServer,
		})
		if res.Decision == sdktrace.RecordAndSample {
			cfg.TraceFlags = trace.FlagsSampled
		}
		cfg.TraceState = res.Tracestate
	}
	return trace.NewSpanContext(cfg)
}
