// Package otlptest is a minimal OpenTelemetry trace receiver for tests: the collector's own
// OTLP protocol definitions served over gRPC and over HTTP/protobuf on a loopback port, so
// the service's exporters are tested against the real wire format, not a mock of it.
package otlptest

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Receiver records every span and the request headers of every export it gets.
type Receiver struct {
	coltracepb.UnimplementedTraceServiceServer

	endpoint string

	mu      sync.Mutex
	spans   []*tracepb.Span
	headers []http.Header
	stall   bool
}

// Start serves OTLP traces on a free loopback port with protocol ("grpc" or
// "http/protobuf") until the test ends.
func Start(t testing.TB, protocol string) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{endpoint: "http://" + ln.Addr().String()}
	switch protocol {
	case "grpc":
		srv := grpc.NewServer()
		coltracepb.RegisterTraceServiceServer(srv, r)
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(srv.Stop)
	case "http/protobuf":
		mux := http.NewServeMux()
		mux.HandleFunc("POST /v1/traces", r.serveHTTP)
		srv := &http.Server{Handler: mux}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
	default:
		t.Fatalf("otlptest: unknown protocol %q", protocol)
	}
	return r
}

// Endpoint is the receiver's base URL, for OTEL_EXPORTER_OTLP_ENDPOINT.
func (r *Receiver) Endpoint() string { return r.endpoint }

// Stall makes every later export hang until its sender gives up.
func (r *Receiver) Stall() {
	r.mu.Lock()
	r.stall = true
	r.mu.Unlock()
}

// Spans are the spans received so far, in arrival order.
func (r *Receiver) Spans() []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.Span(nil), r.spans...)
}

// Headers are the request headers (gRPC metadata) of each export so far.
func (r *Receiver) Headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.headers...)
}

// record keeps one export's headers and spans; it reports whether the export should stall.
func (r *Receiver) record(h http.Header, req *coltracepb.ExportTraceServiceRequest) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.headers = append(r.headers, h)
	if r.stall {
		return true
	}
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	return false
}

// Export is the gRPC TraceService's one method.
func (r *Receiver) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	h := http.Header{}
	for k, vs := range md {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if r.record(h, req) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	var body io.Reader = req.Body
	if strings.EqualFold(req.Header.Get("Content-Encoding"), "gzip") {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.record(req.Header.Clone(), &msg) {
		<-req.Context().Done()
		return
	}
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}
