package health

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func status(t *testing.T, h http.Handler) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec.Code
}

func TestReadinessStartsNotReadyAndFlips(t *testing.T) {
	var r Readiness
	if got := status(t, r.Handler()); got != http.StatusServiceUnavailable {
		t.Fatalf("before start: got %d, want 503", got)
	}
	r.SetReady(true)
	if got := status(t, r.Handler()); got != http.StatusOK {
		t.Fatalf("serving: got %d, want 200", got)
	}
	r.SetReady(false)
	if got := status(t, r.Handler()); got != http.StatusServiceUnavailable {
		t.Fatalf("shutting down: got %d, want 503", got)
	}
}

func TestLivenessIsAlwaysOK(t *testing.T) {
	if got := status(t, Liveness()); got != http.StatusOK {
		t.Fatalf("got %d, want 200", got)
	}
}
