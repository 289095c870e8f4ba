package config

import (
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaultsFollowTheRuntimeContract(t *testing.T) {
	c, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.Host != "0.0.0.0" || c.AdvertiseAddr == "" {
		t.Errorf("listen defaults: %d %q %q", c.Port, c.Host, c.AdvertiseAddr)
	}
	if c.RegistryTTL != 10*time.Second || c.DrainDelay != 5*time.Second ||
		c.ShutdownTimeout != 20*time.Second || c.RequestTimeout != 10*time.Second {
		t.Errorf("durations: %+v", c)
	}
	if c.MaxBodyBytes != 1<<20 || c.RateLimitRPS != 0 || c.MaxInFlight != 0 {
		t.Errorf("limits: %+v", c)
	}
	if c.FaultInjection || c.AdminEnabled {
		t.Error("fault injection and admin must be off by default")
	}
}

func TestFlagOverridesEnvironment(t *testing.T) {
	c, err := Load([]string{"-port", "9001", "-drain-delay", "1s"},
		env(map[string]string{"PORT": "9000", "DRAIN_DELAY": "3s", "HOST": "127.0.0.2"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9001 || c.DrainDelay != time.Second {
		t.Errorf("flags lost: port %d drain %s", c.Port, c.DrainDelay)
	}
	if c.Host != "127.0.0.2" || c.AdvertiseAddr != "127.0.0.2" {
		t.Errorf("env lost: %q %q", c.Host, c.AdvertiseAddr)
	}
}

func TestBadValuesAreAllReportedByName(t *testing.T) {
	_, err := Load(nil, env(map[string]string{
		"PORT": "eighty", "FAULT_ERROR_RATE": "2", "BALANCER": "random", "DOWNSTREAM_ENDPOINTS": "nohost",
	}), io.Discard)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"PORT", "FAULT_ERROR_RATE", "BALANCER", "DOWNSTREAM_ENDPOINTS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	_, err := Load([]string{"-h"}, env(nil), io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
}

func TestRateLimitBurstDefaultsToRate(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"RATE_LIMIT_RPS": "50"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimitBurst != 50 {
		t.Errorf("burst %d, want 50", c.RateLimitBurst)
	}
}

// The README is the user's reference: every variable the service reads must be in it.
func TestReadmeListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skip("README.md is not next to go.mod:", err)
	}
	var names []string
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`l\.\w+\(&[\w.]+, "([A-Z_]+)"`).FindAllSubmatch(src, -1) {
		names = append(names, string(m[1]))
	}
	names = append(names, "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER")
	if len(names) < 25 {
		t.Fatalf("found only %d variables in config.go", len(names))
	}
	for _, name := range names {
		if !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("README.md does not list `%s`", name)
		}
	}
}

// OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER as the OpenTelemetry environment specification
// reads them, except that unset exports over OTLP only when an endpoint is set.
func TestTracingFollowsTheStandardEnvironment(t *testing.T) {
	const endpoint = "http://127.0.0.1:4318"
	cases := []struct {
		env      map[string]string
		disabled bool
		want     string
	}{
		{map[string]string{}, false, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}, false, "otlp"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint}, false, "otlp"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, false, "otlp"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "Console, otlp"}, false, "console,otlp"},
		{map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}, true, ""},
		// Anything but "true" is false, as the specification's booleans are.
		{map[string]string{"OTEL_SDK_DISABLED": "1", "OTEL_TRACES_EXPORTER": "console"}, false, "console"},
	}
	for _, c := range cases {
		cfg, err := Load(nil, env(c.env), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		if cfg.TracingDisabled != c.disabled || strings.Join(cfg.TracesExporters, ",") != c.want {
			t.Errorf("%v: disabled=%v exporters=%v; want %v %q", c.env, cfg.TracingDisabled, cfg.TracesExporters, c.disabled, c.want)
		}
	}
	for _, bad := range []string{"zipkin", "none,otlp"} {
		_, err := Load(nil, env(map[string]string{"OTEL_TRACES_EXPORTER": bad}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_EXPORTER") {
			t.Errorf("OTEL_TRACES_EXPORTER=%s: %v; want an error naming the variable", bad, err)
		}
	}
}

func ipNet(s string) net.Addr {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func TestAdvertiseAddrComesFromTheFirstReachableSource(t *testing.T) {
	container := []net.Addr{ipNet("127.0.0.1/8"), ipNet("::1/128"), ipNet("fe80::1/64"), ipNet("10.1.2.3/24"), ipNet("10.9.9.9/24")}
	v6only := []net.Addr{ipNet("127.0.0.1/8"), ipNet("fe80::1/64"), ipNet("2001:db8::7/64")}
	loopbackOnly := []net.Addr{ipNet("127.0.0.1/8"), ipNet("::1/128")}
	for _, tc := range []struct {
		name, explicit, podIP, host, registry string
		addrs                                 []net.Addr
		want                                  string
		wantErr                               string
	}{
		{name: "explicit wins", explicit: "127.0.0.1", podIP: "10.0.0.5", host: "0.0.0.0", registry: "consul://c:8500", addrs: container, want: "127.0.0.1"},
		{name: "pod IP before interfaces", podIP: "10.0.0.5", host: "0.0.0.0", registry: "etcd://e:2379", addrs: container, want: "10.0.0.5"},
		{name: "bad pod IP", podIP: "pod", host: "0.0.0.0", addrs: container, wantErr: "POD_IP"},
		{name: "specific host", host: "10.9.9.9", registry: "consul://c:8500", addrs: container, want: "10.9.9.9"},
		{name: "wildcard takes the first non-loopback IPv4", host: "0.0.0.0", registry: "consul://c:8500", addrs: container, want: "10.1.2.3"},
		{name: "empty host is a wildcard", host: "", registry: "etcd://e:2379", addrs: container, want: "10.1.2.3"},
		{name: "global IPv6 when no IPv4", host: "::", registry: "etcd://e:2379", addrs: v6only, want: "2001:db8::7"},
		{name: "loopback only: consul refuses", host: "0.0.0.0", registry: "consul://c:8500", addrs: loopbackOnly, wantErr: "ADVERTISE_ADDR"},
		{name: "loopback only: etcd refuses", host: "0.0.0.0", registry: "etcd://e:2379", addrs: nil, wantErr: "ADVERTISE_ADDR"},
		{name: "loopback host: consul refuses", host: "127.0.0.1", registry: "consul://c:8500", addrs: container, wantErr: "ADVERTISE_ADDR"},
		{name: "loopback only: file registry is local", host: "0.0.0.0", registry: "file:///tmp/r.json", addrs: loopbackOnly, want: "127.0.0.1"},
		{name: "loopback host: file registry keeps it", host: "127.0.0.2", registry: "file:///tmp/r.json", addrs: container, want: "127.0.0.2"},
		{name: "no registry", host: "0.0.0.0", addrs: nil, want: "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ChooseAdvertiseAddr(tc.explicit, tc.podIP, tc.host, tc.registry, tc.addrs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want an error naming %s", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// The default budget is documented (README, docs/contracts.md) and read by hale's manifests
// for terminationGracePeriodSeconds: 5s preStop + 5s deregister + 5s drain + 20s shutdown +
// 5s span flush = 40s, more than Kubernetes' default of 30s.
func TestDefaultTimeBudgetIsTheDocumentedSum(t *testing.T) {
	c, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b := c.TimeBudget()
	want := TimeBudget{PreStop: 5 * time.Second, Deregister: 5 * time.Second, Drain: 5 * time.Second, Shutdown: 20 * time.Second, SpanFlush: 5 * time.Second}
	if b != want || b.Total() != 40*time.Second {
		t.Fatalf("budget %+v (total %s), want %+v = 40s", b, b.Total(), want)
	}
	c, err = Load(nil, env(map[string]string{"DRAIN_DELAY": "1s", "SHUTDOWN_TIMEOUT": "3s"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.TimeBudget().Total(); got != 19*time.Second {
		t.Errorf("total %s, want 19s", got)
	}
}

func TestAdminOffLoopbackNeedsNoTokenElsewhereDoes(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"ADMIN_ENABLED": "true"}), io.Discard)
	if err != nil || c.AdminAddr != "127.0.0.1:6060" {
		t.Fatalf("default admin: %q, %v", c.AdminAddr, err)
	}
	_, err = Load(nil, env(map[string]string{"ADMIN_ENABLED": "true", "ADMIN_ADDR": "0.0.0.0:6060"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ADMIN_TOKEN") {
		t.Fatalf("non-loopback admin without a token: %v; want an error naming ADMIN_TOKEN", err)
	}
	if _, err := Load(nil, env(map[string]string{"ADMIN_ENABLED": "true", "ADMIN_ADDR": "0.0.0.0:6060", "ADMIN_TOKEN": "t"}), io.Discard); err != nil {
		t.Fatalf("with a token: %v", err)
	}
	if _, err := Load(nil, env(map[string]string{"ADMIN_ADDR": "0.0.0.0:6060"}), io.Discard); err != nil {
		t.Fatalf("admin off: ADMIN_ADDR is not checked: %v", err)
	}
}
