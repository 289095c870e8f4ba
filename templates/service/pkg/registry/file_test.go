package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func readRegistryFile(t *testing.T, path string) fileDocument {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc fileDocument
	if err := json.Unmarshal(text, &doc); err != nil {
		t.Fatalf("registry file is not JSON: %v\n%s", err, text)
	}
	return doc
}

func liveIDs(t *testing.T, path, service string) []string {
	t.Helper()
	list, err := newFileRegistry(path).discover(context.Background(), service)
	if err != nil {
		t.Fatal(err)
	}
	sortInstances(list)
	return ids(list)
}

func newFileRegistrar(t *testing.T, path string) Registrar {
	t.Helper()
	r, err := New("file://"+path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestFileRegisterWritesTheSharedFormatByteForByte(t *testing.T) {
	// The parent folder does not exist yet: registration creates it.
	path := filepath.Join(t.TempDir(), "state", "hale", "registry.json")
	r := newFileRegistrar(t, path)
	inst := testInstance("orders", "orders-1", 8081)
	inst.Tags = nil // written as [] so the Rust side can read it
	inst.TTL = 10 * time.Second
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stamps := regexp.MustCompile(`"expires_unix_ms": (\d+),\n      "updated_unix_ms": (\d+)`).FindSubmatch(text)
	if stamps == nil {
		t.Fatalf("no timestamps in\n%s", text)
	}
	expires, _ := strconv.ParseInt(string(stamps[1]), 10, 64)
	updated, _ := strconv.ParseInt(string(stamps[2]), 10, 64)
	if expires-updated != 10_000 || updated > nowUnixMs() || updated < nowUnixMs()-5_000 {
		t.Errorf("expires %d / updated %d: want updated = now and expires = updated + ttl", expires, updated)
	}
	// serde_json's pretty printer plus a newline: what the Rust side writes.
	want := fmt.Sprintf(`{
  "version": 1,
  "instances": [
    {
      "name": "orders",
      "id": "orders-1",
      "address": "127.0.0.1",
      "port": 8081,
      "tags": [],
      "meta": {
        "version": "0.1.0",
        "weight": "2"
      },
      "check": "/healthz",
      "ttl_ms": 10000,
      "expires_unix_ms": %d,
      "updated_unix_ms": %d
    }
  ]
}
`, expires, updated)
	if string(text) != want {
		t.Errorf("registry file differs from the shared format:\n got: %s\nwant: %s", text, want)
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Errorf("the sidecar lock file was not created: %v", err)
	}
	if leftovers, _ := filepath.Glob(path + ".tmp.*"); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestFileRegisterKeepsOtherEntriesSortedAndDropsExpiredOnes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	now := nowUnixMs()
	seed := fmt.Sprintf(`{"version":1,"instances":[
 {"name":"users","id":"users-1","address":"127.0.0.1","port":9001,"tags":[],"meta":{},"check":"","ttl_ms":60000,"expires_unix_ms":%d,"updated_unix_ms":%d},
 {"name":"orders","id":"orders-9","address":"127.0.0.1","port":9009,"tags":[],"meta":{},"check":"","ttl_ms":1000,"expires_unix_ms":%d,"updated_unix_ms":%d}]}`,
		now+60_000, now, now-1, now-1_001)
	if err := os.WriteFile(path, []byte(seed), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newFileRegistrar(t, path)
	if err := r.Register(context.Background(), testInstance("orders", "orders-1", 8081)); err != nil {
		t.Fatal(err)
	}
	doc := readRegistryFile(t, path)
	var got []string
	for _, e := range doc.Instances {
		got = append(got, e.Name+"/"+e.ID)
	}
	if fmt.Sprint(got) != "[orders/orders-1 users/users-1]" {
		t.Errorf("entries after register = %v, want the expired orders-9 dropped and the rest sorted", got)
	}
}

// The tests that wait on TTLs run in a synctest bubble: the keeper's timers, the watch's polls
// and the file's timestamps (time.Now) all read the bubble's clock, which jumps ahead whenever
// every goroutine in the bubble is waiting. Minutes of TTLs pass in no real time and each
// heartbeat lands exactly when the keeper schedules it, so the tests assert exact times where
// real-time tests could only leave slack for a busy machine. The code under test is the
// service's own, unchanged.

func TestFileHeartbeatKeepsTheInstancePastItsTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "registry.json")
		r := newFileRegistrar(t, path)
		inst := testInstance("orders", "orders-1", 8081)
		inst.TTL = 1500 * time.Millisecond // a heartbeat every 500ms
		if err := r.Register(context.Background(), inst); err != nil {
			t.Fatal(err)
		}
		first := readRegistryFile(t, path).Instances[0].UpdatedUnixMs
		// Three TTLs: without heartbeats the entry would have expired twice over.
		for beat := int64(1); beat <= 9; beat++ {
			time.Sleep(500 * time.Millisecond)
			synctest.Wait() // the heartbeat due now has been written
			if got := liveIDs(t, path, "orders"); len(got) != 1 {
				t.Fatalf("instance vanished while heartbeating: live = %v", got)
			}
			if got, want := readRegistryFile(t, path).Instances[0].UpdatedUnixMs, first+beat*500; got != want {
				t.Fatalf("heartbeat %d wrote updated_unix_ms %d, want %d (one every TTL/3)", beat, got, want)
			}
		}
	})
}

func TestFileInstanceExpiresWithinTTLWhenHeartbeatsStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "registry.json")
		r := newFileRegistrar(t, path)
		inst := testInstance("orders", "orders-1", 8081)
		if err := r.Register(context.Background(), inst); err != nil {
			t.Fatal(err)
		}
		// Close without Deregister is what a crash leaves behind.
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if got := liveIDs(t, path, "orders"); len(got) != 1 {
			t.Fatalf("live right after Close = %v, want the instance until its TTL runs out", got)
		}
		time.Sleep(inst.TTL - time.Millisecond)
		if got := liveIDs(t, path, "orders"); len(got) != 1 {
			t.Fatalf("live 1ms before the TTL ends = %v, want the instance still there", got)
		}
		time.Sleep(time.Millisecond)
		if got := liveIDs(t, path, "orders"); len(got) != 0 {
			t.Fatalf("live when the TTL has run out = %v, want none", got)
		}
	})
}

func TestFileDeregisterRemovesTheEntry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "registry.json")
		keep := newFileRegistrar(t, path)
		if err := keep.Register(context.Background(), testInstance("orders", "orders-2", 8082)); err != nil {
			t.Fatal(err)
		}
		r := newFileRegistrar(t, path)
		if err := r.Register(context.Background(), testInstance("orders", "orders-1", 8081)); err != nil {
			t.Fatal(err)
		}
		if err := r.Deregister(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := liveIDs(t, path, "orders"); fmt.Sprint(got) != "[orders-2]" {
			t.Fatalf("live after deregister = %v, want only orders-2", got)
		}
		// The stopped heartbeat loop must not put it back.
		time.Sleep(time.Second)
		if got := liveIDs(t, path, "orders"); fmt.Sprint(got) != "[orders-2]" {
			t.Fatalf("live a second after deregister = %v, want only orders-2", got)
		}
	})
}

func TestFileConcurrentGoroutinesLoseNoEntry(t *testing.T) {
	t.Parallel() // its own folder; the time it takes is fsync
	path := filepath.Join(t.TempDir(), "registry.json")
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := newFileRegistry(path)
			for i := range each {
				inst, _ := normalize(testInstance("orders", fmt.Sprintf("g%d-%d", w, i), 10_000+w*100+i))
				inst.TTL = time.Minute
				if err := f.register(context.Background(), inst); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(liveIDs(t, path, "orders")); got != writers*each {
		t.Fatalf("%d entries after %d concurrent registrations: writers overwrote each other", got, writers*each)
	}
}

// TestMain doubles as the writer process of TestFileConcurrentProcessesLoseNoEntry: run with
// HALE_REGISTRY_WRITER="PATH PREFIX COUNT", the test binary registers COUNT instances and exits,
// so several copies contend for the flock as separate processes.
func TestMain(m *testing.M) {
	if spec := os.Getenv("HALE_REGISTRY_WRITER"); spec != "" {
		os.Exit(writeAsProcess(spec))
	}
	os.Exit(m.Run())
}

func writeAsProcess(spec string) int {
	var path, prefix string
	var count int
	if _, err := fmt.Sscanf(spec, "%s %s %d", &path, &prefix, &count); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	f := newFileRegistry(path)
	for i := range count {
		inst, _ := normalize(testInstance("orders", fmt.Sprintf("%s-%d", prefix, i), 20_000+i))
		inst.TTL = time.Minute
		if err := f.register(context.Background(), inst); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := f.heartbeat(context.Background(), inst); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

func TestFileConcurrentProcessesLoseNoEntry(t *testing.T) {
	t.Parallel() // its own folder; the time it takes is fsync and starting processes
	path := filepath.Join(t.TempDir(), "registry.json")
	const processes, each = 4, 15
	var cmds []*exec.Cmd
	for p := range processes {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), fmt.Sprintf("HALE_REGISTRY_WRITER=%s p%d %d", path, p, each))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer process: %v", err)
		}
	}
	if got := len(liveIDs(t, path, "orders")); got != processes*each {
		t.Fatalf("%d entries after %d registrations from %d processes: writers overwrote each other", got, processes*each, processes)
	}
}

func TestFileWatchSeesAddsRemovesAndExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "registry.json")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := Watch(ctx, "file://"+path, "orders", testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		awaitList(t, ch, 5*time.Second, "the empty first list", hasIDs())

		a := newFileRegistrar(t, path)
		if err := a.Register(ctx, testInstance("orders", "orders-a", 8081)); err != nil {
			t.Fatal(err)
		}
		list := awaitList(t, ch, 5*time.Second, "orders-a", hasIDs("orders-a"))
		if got := list[0]; got.Address != "127.0.0.1" || got.Port != 8081 || got.Meta["weight"] != "2" || got.Check != "/healthz" || got.TTL != 2*time.Second {
			t.Errorf("watched instance = %+v, want what was registered", got)
		}
		other := newFileRegistrar(t, path)
		if err := other.Register(ctx, testInstance("users", "users-1", 9001)); err != nil {
			t.Fatal(err)
		}
		b := newFileRegistrar(t, path)
		if err := b.Register(ctx, testInstance("orders", "orders-b", 8082)); err != nil {
			t.Fatal(err)
		}
		awaitList(t, ch, 5*time.Second, "orders-a and orders-b", hasIDs("orders-a", "orders-b"))
		if err := a.Deregister(ctx); err != nil {
			t.Fatal(err)
		}
		awaitList(t, ch, 5*time.Second, "only orders-b", hasIDs("orders-b"))
		b.Close() // crash: the watch sees it go when its 2s TTL runs out
		awaitList(t, ch, 2*time.Second+2*time.Second, "no instance after orders-b expired", hasIDs())

		cancel()
		select {
		case _, ok := <-ch:
			for ok {
				_, ok = <-ch
			}
		case <-time.After(5 * time.Second):
			t.Fatal("watch channel still open 5s after its context ended")
		}
	})
}

func TestFileRegistrationRecoversWhenTheRegistryComesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		// A regular file where the registry's folder should be: every write fails until it goes.
		blocker := filepath.Join(dir, "state")
		if err := os.WriteFile(blocker, []byte("in the way"), 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(blocker, "registry.json")
		r := newFileRegistrar(t, path)
		inst := testInstance("orders", "orders-1", 8081)
		if err := r.Register(context.Background(), inst); err == nil {
			t.Fatal("Register reported success on an unwritable registry")
		}
		time.Sleep(time.Second) // a few failed background attempts
		if err := os.Remove(blocker); err != nil {
			t.Fatal(err)
		}
		// Backoff is capped at max(TTL/3, 1s) = 1s for a 2s TTL.
		eventually(t, 5*time.Second, "registered after the registry became writable", func() bool {
			_, err := os.Stat(path)
			return err == nil && fmt.Sprint(liveIDs(t, path, "orders")) == "[orders-1]"
		})
	})
}

func TestFileRegistrationReturnsAfterTheFileIsWiped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "registry.json")
		r := newFileRegistrar(t, path)
		if err := r.Register(context.Background(), testInstance("orders", "orders-1", 8081)); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		// The next heartbeat (every TTL/3, 666.67ms for the 2s TTL) finds the entry gone and
		// registers again; nothing writes the file before it.
		time.Sleep(666 * time.Millisecond)
		synctest.Wait()
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the file came back before the heartbeat was due: %v", err)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("the heartbeat due at TTL/3 did not register again: %v", err)
		}
		if got := fmt.Sprint(liveIDs(t, path, "orders")); got != "[orders-1]" {
			t.Fatalf("live after the heartbeat: %s, want [orders-1]", got)
		}
	})
}

func TestFileRefusesToOverwriteAForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(path, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newFileRegistrar(t, path)
	err := r.Register(context.Background(), testInstance("orders", "orders-1", 8081))
	if err == nil {
		t.Fatal("Register overwrote a file that is not a registry")
	}
	if text, _ := os.ReadFile(path); string(text) != "not json" {
		t.Fatalf("foreign file changed to %q", text)
	}
}
