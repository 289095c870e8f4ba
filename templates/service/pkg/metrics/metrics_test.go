package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestExpositionHoldsRuntimeBuildAndHTTPSeries(t *testing.T) {
	reg := NewRegistry()
	RegisterBuildInfo(reg, "my-orders", "1.2.3", "abc")
	m := NewHTTP(reg)
	m.Observe("GET", "GET /healthz", 200, 10*time.Millisecond)

	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	for _, want := range []string{
		`my_orders_build_info{revision="abc",version="1.2.3"} 1`,
		`http_requests_total{code="200",method="GET",route="GET /healthz"} 1`,
		`http_request_duration_seconds_bucket{method="GET",route="GET /healthz",le="0.01"} 1`,
		"go_goroutines",
		"process_cpu_seconds_total",
		"http_requests_in_flight 0",
		"http_rate_limited_total 0",
		"http_load_shed_total 0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

func TestMethodKeepsStandardMethodsAndFoldsTheRest(t *testing.T) {
	for in, want := range map[string]string{
		"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "DELETE": "DELETE",
		"CONNECT": "CONNECT", "OPTIONS": "OPTIONS", "TRACE": "TRACE", "PATCH": "PATCH",
		"get": OtherMethod, "PROPFIND": OtherMethod, "": OtherMethod, "BREW": OtherMethod,
	} {
		if got := Method(in); got != want {
			t.Errorf("Method(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Method("PROPFIND") }); n != 0 {
		t.Errorf("Method allocates %v times", n)
	}
}

func TestNamespaceIsAValidMetricPrefix(t *testing.T) {
	for in, want := range map[string]string{"orders": "orders", "my-orders": "my_orders", "a.b-c": "a_b_c", "9lives": "_9lives"} {
		if got := Namespace(in); got != want {
			t.Errorf("Namespace(%q) = %q, want %q", in, got, want)
		}
	}
}
