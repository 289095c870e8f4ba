//go:build integration

package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// sharedEtcd is the machine's test etcd (INTEGRATION_ETCD_ADDR); tests that need it skip without it.
// They only touch keys of their own uniquely named services.
func sharedEtcd(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("INTEGRATION_ETCD_ADDR")
	if addr == "" {
		t.Skip("INTEGRATION_ETCD_ADDR (host:port of a etcd to test against) is not set")
	}
	return addr
}

// gateway calls etcd's JSON gateway: the server's own view, independent of the Go client.
func gateway(t *testing.T, addr, path string, body map[string]any, into any) error {
	t.Helper()
	text, _ := json.Marshal(body)
	resp, err := http.Post("http://"+addr+path, "application/json", bytes.NewReader(text))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, answer)
	}
	return json.Unmarshal(answer, into)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// etcdKeyState reads key through the gateway: its value and the lease it hangs on.
func etcdKeyState(t *testing.T, addr, key string) (value string, lease int64, found bool) {
	t.Helper()
	var resp struct {
		Kvs []struct {
			Value string `json:"value"`
			Lease string `json:"lease"`
		} `json:"kvs"`
	}
	if err := gateway(t, addr, "/v3/kv/range", map[string]any{"key": b64(key)}, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0, false
	}
	raw, _ := base64.StdEncoding.DecodeString(resp.Kvs[0].Value)
	lease, _ = strconv.ParseInt(resp.Kvs[0].Lease, 10, 64)
	return string(raw), lease, true
}

// leaseTTL asks the server for a lease's granted and remaining TTL (-1 when it does not exist).
func leaseTTL(t *testing.T, addr string, lease int64) (granted, remaining int64) {
	t.Helper()
	var resp struct {
		TTL        string `json:"TTL"`
		GrantedTTL string `json:"grantedTTL"`
	}
	if err := gateway(t, addr, "/v3/lease/timetolive", map[string]any{"ID": strconv.FormatInt(lease, 10)}, &resp); err != nil {
		t.Fatal(err)
	}
	granted, _ = strconv.ParseInt(resp.GrantedTTL, 10, 64)
	remaining, _ = strconv.ParseInt(resp.TTL, 10, 64)
	return granted, remaining
}

func keyPresent(t *testing.T, addr, key string) bool {
	_, _, found := etcdKeyState(t, addr, key)
	return found
}

func newEtcdRegistrar(t *testing.T, addr string) Registrar {
	t.Helper()
	r, err := New("etcd://"+addr, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestEtcdRegisterPutsTheInstanceOnALeaseAndDeregisterRemovesIt(t *testing.T) {
	addr := sharedEtcd(t)
	name := uniqueName("hale-go-reg")
	r := newEtcdRegistrar(t, addr)
	inst := testInstance(name, name+"-1", 8081)
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	key := "/hale/services/" + name + "/" + name + "-1"
	value, lease, found := etcdKeyState(t, addr, key)
	if !found {
		t.Fatalf("%s not in etcd after Register", key)
	}
	// The compact JSON serde_json::to_string writes on the Rust side, same field order.
	want := fmt.Sprintf(`{"name":%q,"id":%q,"address":"127.0.0.1","port":8081,"tags":["test"],"meta":{"version":"0.1.0","weight":"2"},"check":"/healthz"}`, name, name+"-1")
	if value != want {
		t.Errorf("value = %s\nwant    %s", value, want)
	}
	if lease == 0 {
		t.Fatal("key is not attached to a lease: it would outlive a crashed instance")
	}
	if granted, _ := leaseTTL(t, addr, lease); granted != 2 {
		t.Errorf("lease granted TTL = %ds, want the instance TTL 2s", granted)
	}
	if err := r.Deregister(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keyPresent(t, addr, key) {
		t.Fatal("key still in etcd after Deregister")
	}
	if _, remaining := leaseTTL(t, addr, lease); remaining != -1 {
		t.Errorf("lease remaining TTL after Deregister = %d, want -1 (revoked)", remaining)
	}
}

func TestEtcdHeartbeatKeepsTheKeyPastItsTTL(t *testing.T) {
	addr := sharedEtcd(t)
	name := uniqueName("hale-go-ka")
	r := newEtcdRegistrar(t, addr)
	inst := testInstance(name, name+"-1", 8081)
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	defer r.Deregister(context.Background())
	key := "/hale/services/" + name + "/" + name + "-1"
	for range 6 { // three TTLs
		time.Sleep(inst.TTL / 2)
		if !keyPresent(t, addr, key) {
			t.Fatal("key expired although the registrar was heartbeating")
		}
	}
}

func TestEtcdLeaseExpiresWithinTTLAfterACrash(t *testing.T) {
	addr := sharedEtcd(t)
	name := uniqueName("hale-go-crash")
	r := newEtcdRegistrar(t, addr)
	inst := testInstance(name, name+"-1", 8081)
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	key := "/hale/services/" + name + "/" + name + "-1"
	// Close without Deregister: the keep-alives stop as if the process had been killed.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if !keyPresent(t, addr, key) {
		t.Fatal("Close deleted the key: it must be left for the lease to expire")
	}
	eventually(t, inst.TTL+time.Second, "key gone after the lease expired", func() bool { return !keyPresent(t, addr, key) })
}

func TestEtcdRegistersAgainWhenTheLeaseIsRevoked(t *testing.T) {
	addr := sharedEtcd(t)
	name := uniqueName("hale-go-lost")
	r := newEtcdRegistrar(t, addr)
	inst := testInstance(name, name+"-1", 8081)
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	defer r.Deregister(context.Background())
	key := "/hale/services/" + name + "/" + name + "-1"
	_, lease, _ := etcdKeyState(t, addr, key)
	// Behind the registrar's back: what an expired lease or a wiped cluster looks like.
	var ignored map[string]any
	if err := gateway(t, addr, "/v3/lease/revoke", map[string]any{"ID": strconv.FormatInt(lease, 10)}, &ignored); err != nil {
		t.Fatal(err)
	}
	if keyPresent(t, addr, key) {
		t.Fatal("revoking the lease did not remove the key")
	}
	// The next heartbeat (TTL/3) finds the lease gone; "within a few seconds" with margin.
	eventually(t, 5*time.Second, "key back on a new lease", func() bool {
		_, newLease, found := etcdKeyState(t, addr, key)
		return found && newLease != lease
	})
}

func TestEtcdWatchSeesAddRemoveAndExpiry(t *testing.T) {
	addr := sharedEtcd(t)
	name := uniqueName("hale-go-watch")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := Watch(ctx, "etcd://"+addr, name, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	awaitList(t, ch, 5*time.Second, "the empty first list", hasIDs())
	a := newEtcdRegistrar(t, addr)
	if err := a.Register(ctx, testInstance(name, name+"-a", 8081)); err != nil {
		t.Fatal(err)
	}
	list := awaitList(t, ch, 5*time.Second, "instance a", hasIDs(name+"-a"))
	if got := list[0]; got.Name != name || got.Address != "127.0.0.1" || got.Port != 8081 || got.Check != "/healthz" || got.Meta["weight"] != "2" {
		t.Errorf("watched instance = %+v, want what was registered", got)
	}
	b := newEtcdRegistrar(t, addr)
	if err := b.Register(ctx, testInstance(name, name+"-b", 8082)); err != nil {
		t.Fatal(err)
	}
	awaitList(t, ch, 5*time.Second, "instances a and b", hasIDs(name+"-a", name+"-b"))
	if err := a.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	awaitList(t, ch, 5*time.Second, "only b", hasIDs(name+"-b"))
	b.Close() // crash: gone once its 2s lease runs out
	awaitList(t, ch, 2*time.Second+2*time.Second, "no instance after b's lease expired", hasIDs())
	cancel()
	eventually(t, 5*time.Second, "watch channel closed after its context ended", func() bool {
		select {
		case _, ok := <-ch:
			return !ok
		default:
			return false
		}
	})
}

// TestEtcdClientWorksAgainstTheTestServer pins the finding that client v3.7 talks to the 3.4
// server the test environment runs: grant, streaming keep-alive, put on a lease, watch, revoke.
func TestEtcdClientWorksAgainstTheTestServer(t *testing.T) {
	addr := sharedEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 3 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, err := cli.Status(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd server %s", status.Version)
	grant, err := cli.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	key := "/hale/services/" + uniqueName("hale-go-compat") + "/x"
	events := cli.Watch(ctx, key)
	if _, err := cli.Put(ctx, key, "v", clientv3.WithLease(grant.ID)); err != nil {
		t.Fatal(err)
	}
	select {
	case resp := <-events:
		if resp.Err() != nil || len(resp.Events) != 1 || string(resp.Events[0].Kv.Value) != "v" {
			t.Fatalf("watch answered %+v, err %v", resp.Events, resp.Err())
		}
	case <-ctx.Done():
		t.Fatal("watch saw no put")
	}
	alive, err := cli.KeepAlive(ctx, grant.ID)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the stream renews about every TTL/3
		if ka, ok := <-alive; !ok || ka.TTL != 2 {
			t.Fatalf("keep-alive stream answered %+v (open %v)", ka, ok)
		}
	}
	if _, err := cli.Revoke(ctx, grant.ID); err != nil {
		t.Fatal(err)
	}
	if keyPresent(t, addr, key) {
		t.Fatal("key survived its lease's revocation")
	}
}

// privateEtcd is a throwaway single-member etcd on free ports, which a test may kill, restart
// and wipe without disturbing the shared one.
type privateEtcd struct {
	t                    *testing.T
	clientPort, peerPort int
	dataDir              string
	cmd                  *exec.Cmd
}

func newPrivateEtcd(t *testing.T) *privateEtcd {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an etcd server; skipped with -short")
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd binary not installed")
	}
	p := &privateEtcd{t: t, clientPort: freePort(t), peerPort: freePort(t), dataDir: filepath.Join(t.TempDir(), "etcd")}
	t.Cleanup(p.kill)
	return p
}

func (p *privateEtcd) addr() string { return "127.0.0.1:" + strconv.Itoa(p.clientPort) }

func (p *privateEtcd) start() {
	p.t.Helper()
	client := "http://" + p.addr()
	peer := "http://127.0.0.1:" + strconv.Itoa(p.peerPort)
	p.cmd = exec.Command("etcd", "--name", "registry-test", "--data-dir", p.dataDir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "registry-test="+peer, "--log-level", "error")
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	eventually(p.t, 20*time.Second, "private etcd healthy", func() bool {
		resp, err := http.Get(client + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var health struct{ Health string }
		_ = json.NewDecoder(resp.Body).Decode(&health)
		return health.Health == "true"
	})
}

// kill is SIGKILL: no chance to tidy up, like a crashed or power-cycled node.
func (p *privateEtcd) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

func TestEtcdRegisterDoesNotWaitForAnUnreachableEtcdAndRegistersOnceItStarts(t *testing.T) {
	etcd := newPrivateEtcd(t) // not started yet: nothing listens on its port
	name := uniqueName("hale-go-late")
	r := newEtcdRegistrar(t, etcd.addr())
	inst := testInstance(name, name+"-1", 8081)
	began := time.Now()
	if err := r.Register(context.Background(), inst); err == nil {
		t.Fatal("Register reported success with no etcd running")
	}
	if took := time.Since(began); took > firstAttemptTimeout+2*time.Second {
		t.Fatalf("Register blocked %s on an unreachable etcd", took)
	}
	etcd.start()
	key := "/hale/services/" + name + "/" + name + "-1"
	// Retries are at most max(TTL/3, 1s) apart, plus the dial.
	eventually(t, 5*time.Second, "registered once etcd is up", func() bool { return keyPresent(t, etcd.addr(), key) })
}

func TestEtcdRegistrationSurvivesARestartWithItsData(t *testing.T) {
	etcd := newPrivateEtcd(t)
	etcd.start()
	name := uniqueName("hale-go-restart")
	r := newEtcdRegistrar(t, etcd.addr())
	inst := testInstance(name, name+"-1", 8081)
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	key := "/hale/services/" + name + "/" + name + "-1"
	etcd.kill()
	time.Sleep(inst.TTL) // longer than the lease: etcd extends leases when it comes back
	etcd.start()
	if !keyPresent(t, etcd.addr(), key) {
		t.Fatal("key lost across a restart with data")
	}
	// Heartbeats resume on the same lease: the key stays well past another TTL.
	for range 6 {
		time.Sleep(inst.TTL / 2)
		if !keyPresent(t, etcd.addr(), key) {
			t.Fatal("key expired after the restart although the registrar is alive")
		}
	}
}

func TestEtcdRegistersAgainAfterARestartWithWipedData(t *testing.T) {
	etcd := newPrivateEtcd(t)
	etcd.start()
	name := uniqueName("hale-go-wiped")
	r := newEtcdRegistrar(t, etcd.addr())
	inst := testInstance(name, name+"-1", 8081)
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := Watch(ctx, "etcd://"+etcd.addr(), name, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	awaitList(t, ch, 5*time.Second, "the instance before the restart", hasIDs(inst.ID))
	key := "/hale/services/" + name + "/" + name + "-1"
	etcd.kill()
	if err := os.RemoveAll(etcd.dataDir); err != nil {
		t.Fatal(err)
	}
	etcd.start() // a new, empty cluster on the same address
	eventually(t, 5*time.Second, "registered again on the wiped etcd", func() bool { return keyPresent(t, etcd.addr(), key) })
	// The watch must follow the new cluster although its revisions restarted from 1: shown by
	// the instance leaving (within the watch's 10s re-list).
	if err := r.Deregister(context.Background()); err != nil {
		t.Fatal(err)
	}
	awaitList(t, ch, etcdResync+5*time.Second, "the instance gone after Deregister", hasIDs())
}
