// Package metrics owns the service's Prometheus registry, its HTTP server metrics, and the
// downstream series its outbound clients (pkg/client, pkg/grpcclient) share.
//
// A private registry (not the global default) keeps the exposition to what this service
// declares, and lets tests build as many independent instances as they like.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry holding the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves the registry in the Prometheus exposition format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:          reg,
		EnableOpenMetrics: true,
		// A slow scrape must not pile up goroutines.
		MaxRequestsInFlight: 4,
	})
}

// RegisterBuildInfo exposes <namespace>_build_info{version,revision} = 1, the usual way to
// join a build to any other series. The namespace (the service's name, see Namespace) keeps it
// apart from the build_info of every other program Prometheus scrapes.
func RegisterBuildInfo(reg prometheus.Registerer, namespace, version, revision string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   Namespace(namespace),
		Name:        "build_info",
		Help:        "Build of the running binary; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision},
	})
	g.Set(1)
	reg.MustRegister(g)
}

// Namespace turns a service name into a metric name prefix: every character outside
// [a-zA-Z0-9_] becomes '_' ("my-orders" → "my_orders"), and a leading digit gets a '_'.
func Namespace(name string) string {
	b := []byte(name)
	for i, c := range b {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			b[i] = '_'
		}
	}
	if len(b) > 0 && '0' <= b[0] && b[0] <= '9' {
		b = append([]byte{'_'}, b...)
	}
	return string(b)
}

// HTTP holds the inbound HTTP metrics. The route label is always the ServeMux pattern that
// matched (for example "GET /v1/orders"), never the raw path, and the method label one of the
// standard methods or OtherMethod, so cardinality stays bounded.
type HTTP struct {
	Requests    *prometheus.CounterVec
	Duration    *prometheus.HistogramVec
	InFlight    prometheus.Gauge
	RateLimited prometheus.Counter
	LoadShed    prometheus.Counter
	// ConcurrencyLimit is the adaptive concurrency limit's current value.
	ConcurrencyLimit prometheus.Gauge

	// series caches the children per (method, route, code): the label sets are few and
	// fixed, and a cache hit skips hashing and validating label values on every request.
	series sync.Map // seriesKey → *series
}

type seriesKey struct {
	method, route string
	code          int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// OtherMethod labels every request method outside the standard set, as OpenTelemetry's HTTP
// conventions do: a client sending arbitrary methods must not create series without bound.
const OtherMethod = "_OTHER"

// Method maps a request method to a label value from a fixed set: the standard methods
// (RFC 9110 and PATCH) as they are, anything else OtherMethod. It returns constants, so it
// never allocates.
func Method(m string) string {
	switch m {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodTrace:
		return http.MethodTrace
	case http.MethodPatch:
		return http.MethodPatch
	}
	return OtherMethod
}

// Observe counts one finished request and records its duration. method is mapped through
// Method and route must come from a fixed set (ServeMux patterns and one unmatched value), so
// the series, and the cache below, stay bounded whatever clients send.
func (m *HTTP) Observe(method, route string, code int, elapsed time.Duration) {
	method = Method(method)
	key := seriesKey{method: method, route: route, code: code}
	v, ok := m.series.Load(key)
	if !ok {
		v, _ = m.series.LoadOrStore(key, &series{
			requests: m.Requests.WithLabelValues(method, route, strconv.Itoa(code)),
			duration: m.Duration.WithLabelValues(method, route),
		})
	}
	s := v.(*series)
	s.requests.Inc()
	s.duration.Observe(elapsed.Seconds())
}

// NewHTTP creates and registers the HTTP metrics.
func NewHTTP(reg prometheus.Registerer) *HTTP {
	m := &HTTP{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being served right now.",
		}),
		RateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "http_rate_limited_total",
			Help: "Requests refused with 429 by the inbound rate limiter.",
		}),
		LoadShed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "http_load_shed_total",
			Help: "Requests refused with 503 because MAX_IN_FLIGHT or the adaptive concurrency limit was reached.",
		}),
	}
	m.ConcurrencyLimit = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "http_concurrency_limit",
		Help: "Application requests the adaptive concurrency limit admits at once (0 when off).",
	})
	reg.MustRegister(m.Requests, m.Duration, m.InFlight, m.RateLimited, m.LoadShed, m.ConcurrencyLimit)
	return m
}
