package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The two benchmarks measure what the middleware costs a request on top of the bare handler:
//
//	go test -run '^$' -bench . ./internal/server

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func BenchmarkRootThroughAllMiddleware(b *testing.B) {
	f := newFixture()
	f.opts.RateLimitRPS = 1e9
	f.opts.RateLimitBurst = 1e9
	f.opts.MaxInFlight = 1e6
	f.opts.Faults = NewFaults(true, 0, 0)
	h := New(f.opts)
	req := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := &discardWriter{h: make(http.Header, 4)}
		h.ServeHTTP(w, req)
	}
}

func BenchmarkRootBare(b *testing.B) {
	f := newFixture()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", f.opts.Handlers.Root)
	req := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := &discardWriter{h: make(http.Header, 4)}
		mux.ServeHTTP(w, req)
	}
}
