package config

import (
	"errors"
	"flag"
	"io"
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
	if c.Port != 8080 || c.Host != "0.0.0.0" || c.AdvertiseAddr != "127.0.0.1" {
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
	names = append(names, "OTEL_EXPORTER_OTLP_ENDPOINT")
	if len(names) < 25 {
		t.Fatalf("found only %d variables in config.go", len(names))
	}
	for _, name := range names {
		if !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("README.md does not list `%s`", name)
		}
	}
}
