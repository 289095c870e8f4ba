package client

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the client's series; every client of a process shares them, told apart by the
// service label.
type metrics struct {
	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	requests    *prometheus.CounterVec
	retries     *prometheus.CounterVec
	fallbacks   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		state: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "downstream_breaker_state",
			Help: "Circuit breaker state per downstream instance: 0 closed, 1 half-open, 2 open.",
		}, []string{"service", "instance"})),
		transitions: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "downstream_breaker_transitions_total",
			Help: "Circuit breaker state changes per downstream instance, by the state entered.",
		}, []string{"service", "instance", "to"})),
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "downstream_requests_total",
			Help: "Downstream attempts per instance by outcome: success, server_error (5xx), transport_error, canceled.",
		}, []string{"service", "instance", "outcome"})),
		retries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "downstream_retries_total",
			Help: "Downstream attempts that were retries, paid from the retry budget.",
		}, []string{"service"})),
		fallbacks: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "downstream_fallbacks_total",
			Help: "Downstream calls answered by the fallback because no instance could answer.",
		}, []string{"service"})),
	}
}

// register adds c to reg, or reuses the collector already there when a second client of
// the same process registers the same series.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic(err) // a clash with a differently shaped series is a programming error
	}
	return c
}

// forget drops a departed instance's state gauge, so dashboards do not show an instance
// that no longer exists as stuck open. Its counters stay: they are history.
func (m *metrics) forget(service, instance string) {
	m.state.DeleteLabelValues(service, instance)
}
