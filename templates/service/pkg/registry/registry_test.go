package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// testLogger sends the package's logs to the test log, so a failure shows what the keeper saw.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// uniqueName keeps tests on the shared Consul and etcd out of each other's (and other
// helpers') way.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1_000_000_000)
}

func testInstance(name, id string, port int) Instance {
	return Instance{
		Name: name, ID: id, Address: "127.0.0.1", Port: port,
		Tags: []string{"test"}, Meta: map[string]string{"version": "0.1.0", "weight": "2"},
		Check: "/healthz", TTL: 2 * time.Second,
	}
}

func ids(list []Instance) []string {
	out := make([]string, 0, len(list))
	for _, inst := range list {
		out = append(out, inst.ID)
	}
	return out
}

// awaitList reads the Watch channel until a list satisfies want or the (generous) deadline passes.
func awaitList(t *testing.T, ch <-chan []Instance, within time.Duration, what string, want func([]Instance) bool) []Instance {
	t.Helper()
	deadline := time.After(within)
	var last []Instance
	for {
		select {
		case list, ok := <-ch:
			if !ok {
				t.Fatalf("watch channel closed while waiting for %s; last list %v", what, ids(last))
			}
			last = list
			if want(list) {
				return list
			}
		case <-deadline:
			t.Fatalf("no list with %s within %s; last list %v", what, within, ids(last))
		}
	}
}

func hasIDs(want ...string) func([]Instance) bool {
	return func(list []Instance) bool { return slices.Equal(ids(list), want) }
}

// eventually polls cond until it holds or the bound passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestNewRejectsBadURLsNamingTheAcceptedForms(t *testing.T) {
	for _, raw := range []string{
		"", "127.0.0.1:8500", "http://127.0.0.1:8500", "consul://", "consul://host", "consul://host:0",
		"consul://host:99999", "etcd://host:2379/path", "etcd://user@host:2379", "file://relative.json",
		"file:///", "file:///dir/", "file://host/abs.json", "zk://host:2181",
	} {
		_, err := New(raw, nil)
		if err == nil {
			t.Errorf("New(%q) accepted a bad URL", raw)
			continue
		}
		if !errors.Is(err, ErrInvalidURL) || !strings.Contains(err.Error(), acceptedForms) {
			t.Errorf("New(%q) error %q does not name the accepted forms", raw, err)
		}
		if _, err := Watch(context.Background(), raw, "orders", nil); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("Watch(%q) = %v, want ErrInvalidURL", raw, err)
		}
	}
}

func TestNewAcceptsTheThreeForms(t *testing.T) {
	for _, raw := range []string{"consul://127.0.0.1:8500", "etcd://localhost:2379/", "etcd://[::1]:2379", "file:///tmp/hale/registry.json"} {
		r, err := New(raw, nil)
		if err != nil {
			t.Errorf("New(%q): %v", raw, err)
			continue
		}
		if err := r.Close(); err != nil {
			t.Errorf("Close after New(%q): %v", raw, err)
		}
	}
}

func TestRegisterRejectsUnusableInstancesWithoutStartingAnything(t *testing.T) {
	path := t.TempDir() + "/registry.json"
	good := testInstance("orders", "orders-1", 8081)
	cases := map[string]func(*Instance){
		"empty name":     func(i *Instance) { i.Name = "" },
		"slash in name":  func(i *Instance) { i.Name = "a/b" },
		"space in id":    func(i *Instance) { i.ID = "a b" },
		"no address":     func(i *Instance) { i.Address = "" },
		"port 0":         func(i *Instance) { i.Port = 0 },
		"port too large": func(i *Instance) { i.Port = 70000 },
		"relative check": func(i *Instance) { i.Check = "healthz" },
		"tiny ttl":       func(i *Instance) { i.TTL = time.Millisecond },
	}
	for name, spoil := range cases {
		inst := good
		spoil(&inst)
		r, err := New("file://"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Register(context.Background(), inst); !errors.Is(err, ErrInvalidInstance) {
			t.Errorf("%s: Register = %v, want ErrInvalidInstance", name, err)
		}
		r.Close()
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an invalid instance touched the registry file: %v", err)
	}
}

func TestRegisterTwiceIsRefused(t *testing.T) {
	r, err := New("file://"+t.TempDir()+"/registry.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	inst := testInstance("orders", "orders-1", 8081)
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(context.Background(), inst); err == nil {
		t.Fatal("a second Register on one Registrar succeeded")
	}
}

func TestBackoffGrowsToItsCapWithJitter(t *testing.T) {
	b := backoff{start: 250 * time.Millisecond, cap: 2 * time.Second}
	var steps []time.Duration
	for range 8 {
		steps = append(steps, b.next())
	}
	// Equal jitter: each pause lies in [step/2, step], the step doubling up to the cap.
	want := []time.Duration{250, 500, 1000, 2000, 2000, 2000, 2000, 2000}
	for i, d := range steps {
		step := want[i] * time.Millisecond
		if d < step/2 || d > step {
			t.Errorf("pause %d = %s, want within [%s, %s]", i, d, step/2, step)
		}
	}
	b.reset()
	if d := b.next(); d > 250*time.Millisecond {
		t.Errorf("after reset the pause is %s, want at most 250ms", d)
	}
	if got := retryCap(10 * time.Second); got < 3*time.Second || got > 4*time.Second {
		t.Errorf("retry cap for the default TTL = %s, want TTL/3", got)
	}
	if got := retryCap(10 * time.Minute); got != 30*time.Second {
		t.Errorf("retry cap for a long TTL = %s, want 30s", got)
	}
}
