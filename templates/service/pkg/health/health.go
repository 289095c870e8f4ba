// Package health answers liveness and readiness probes.
//
// Liveness (/healthz) says the process is up; readiness (/readyz) says it should get traffic.
// Readiness turns false the moment shutdown starts, before the instance leaves the registry,
// so load balancers stop sending new requests while in-flight ones finish.
package health

import (
	"net/http"
	"sync/atomic"
)

// Readiness is the switch /readyz reports. The zero value is not ready.
type Readiness struct {
	ready atomic.Bool
}

// SetReady flips readiness; it is safe to call from any goroutine.
func (r *Readiness) SetReady(ready bool) { r.ready.Store(ready) }

// Ready reports the current state.
func (r *Readiness) Ready() bool { return r.ready.Load() }

var (
	bodyOK       = []byte(`{"status":"ok"}` + "\n")
	bodyReady    = []byte(`{"status":"ready"}` + "\n")
	bodyNotReady = []byte(`{"status":"not ready"}` + "\n")
)

// Liveness answers 200 while the process can serve HTTP at all.
func Liveness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, bodyOK)
	})
}

// Handler answers 200 while ready and 503 otherwise.
func (r *Readiness) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if r.Ready() {
			writeJSON(w, http.StatusOK, bodyReady)
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, bodyNotReady)
	})
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// Probes must see the current state, never a cached one.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
