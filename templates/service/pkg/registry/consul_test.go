//go:build integration

package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// sharedConsul is the machine's test Consul agent (INTEGRATION_CONSUL_ADDR); tests that need it skip
// without it. They only add and remove their own uniquely named services.
func sharedConsul(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("INTEGRATION_CONSUL_ADDR")
	if addr == "" {
		t.Skip("INTEGRATION_CONSUL_ADDR (host:port of a Consul agent to test against) is not set")
	}
	return addr
}

// healthServer is a real HTTP endpoint for Consul's HTTP check; failing flips /healthz to 503.
func healthServer(t *testing.T) (port int, failing *atomic.Bool) {
	t.Helper()
	failing = new(atomic.Bool)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && !failing.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	port, _ = strconv.Atoi(srv.URL[len("http://127.0.0.1:"):])
	return port, failing
}

// consulJSON GETs path from the agent and decodes the answer.
func consulJSON(t *testing.T, addr, path string, into any) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return resp.StatusCode
}

type agentService struct {
	ID, Service, Address string
	Port                 int
	Tags                 []string
	Meta                 map[string]string
}

type agentCheck struct {
	CheckID, Status, ServiceID, Type, Output string
}

// agentServiceOf returns the agent's own view of id (ok false when it does not hold it).
func agentServiceOf(t *testing.T, addr, id string) (agentService, bool) {
	var services map[string]agentService
	consulJSON(t, addr, "/v1/agent/services", &services)
	svc, ok := services[id]
	return svc, ok
}

func agentChecksOf(t *testing.T, addr, id string) map[string]agentCheck {
	var checks map[string]agentCheck
	consulJSON(t, addr, "/v1/agent/checks", &checks)
	out := map[string]agentCheck{}
	for k, c := range checks {
		if c.ServiceID == id {
			out[k] = c
		}
	}
	return out
}

func passingIDs(t *testing.T, addr, service string) []string {
	var entries []consulHealthEntry
	consulJSON(t, addr, "/v1/health/service/"+service+"?passing", &entries)
	var out []string
	for _, e := range entries {
		out = append(out, e.Service.ID)
	}
	return out
}

func TestConsulRegisterIsVisibleInTheAgentAndDeregisterRemovesIt(t *testing.T) {
	addr := sharedConsul(t)
	name := uniqueName("hale-go-reg")
	port, _ := healthServer(t)
	r, err := New("consul://"+addr, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	inst := testInstance(name, name+"-1", port)
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	svc, ok := agentServiceOf(t, addr, inst.ID)
	if !ok {
		t.Fatalf("agent does not list %s after Register", inst.ID)
	}
	if svc.Service != name || svc.Address != "127.0.0.1" || svc.Port != port ||
		fmt.Sprint(svc.Tags) != "[test]" || svc.Meta["version"] != "0.1.0" || svc.Meta["weight"] != "2" {
		t.Errorf("agent holds %+v, want what was registered", svc)
	}
	checks := agentChecksOf(t, addr, inst.ID)
	if c := checks[inst.ID+":http"]; c.Type != "http" || c.Status != "passing" {
		t.Errorf("HTTP check = %+v, want a passing http check", c)
	}
	if c := checks[inst.ID+":ttl"]; c.Type != "ttl" || c.Status != "passing" {
		t.Errorf("TTL check = %+v, want a passing ttl check", c)
	}
	if got := fmt.Sprint(passingIDs(t, addr, name)); got != "["+inst.ID+"]" {
		t.Errorf("passing instances = %s, want [%s]", got, inst.ID)
	}
	if err := r.Deregister(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := agentServiceOf(t, addr, inst.ID); ok {
		t.Fatal("agent still lists the instance after Deregister")
	}
	if len(agentChecksOf(t, addr, inst.ID)) != 0 {
		t.Fatal("agent still holds the instance's checks after Deregister")
	}
}

func TestConsulHeartbeatKeepsTheTTLCheckPassing(t *testing.T) {
	addr := sharedConsul(t)
	name := uniqueName("hale-go-ttl")
	port, _ := healthServer(t)
	r, err := New("consul://"+addr, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	inst := testInstance(name, name+"-1", port) // TTL 2s
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	defer r.Deregister(context.Background())
	defer r.Close()
	time.Sleep(3 * inst.TTL)
	if c := agentChecksOf(t, addr, inst.ID)[inst.ID+":ttl"]; c.Status != "passing" {
		t.Fatalf("TTL check after 3 TTLs of heartbeats = %q, want passing", c.Status)
	}
	// Stop heartbeating (a crash): the TTL check turns critical and the instance leaves ?passing.
	r.Close()
	eventually(t, inst.TTL+2*time.Second, "TTL check critical after heartbeats stopped", func() bool {
		return agentChecksOf(t, addr, inst.ID)[inst.ID+":ttl"].Status == "critical"
	})
	if got := passingIDs(t, addr, name); len(got) != 0 {
		t.Errorf("passing instances with a critical TTL check = %v, want none", got)
	}
}

func TestConsulHTTPCheckProbesTheInstanceHealthPath(t *testing.T) {
	addr := sharedConsul(t)
	name := uniqueName("hale-go-http")
	port, failing := healthServer(t)
	r, err := New("consul://"+addr, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer r.Deregister(context.Background())
	inst := testInstance(name, name+"-1", port)
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	// Interval 5s + timeout 2s, with margin.
	eventually(t, 10*time.Second, "HTTP check critical once /healthz fails", func() bool {
		return agentChecksOf(t, addr, inst.ID)[inst.ID+":http"].Status == "critical"
	})
	failing.Store(false)
	eventually(t, 10*time.Second, "HTTP check passing again once /healthz recovers", func() bool {
		return agentChecksOf(t, addr, inst.ID)[inst.ID+":http"].Status == "passing"
	})
}

// An instance that serves TLS (Meta scheme=https) is probed over HTTPS without verifying its
// certificate, which no CA of Consul's signed: the agent's own probe passes. A plain-HTTP check
// of the same port would get 400 (an HTTP request to an HTTPS server) and turn critical.
func TestConsulProbesAnInstanceServingTLSOverHTTPS(t *testing.T) {
	addr := sharedConsul(t)
	name := uniqueName("hale-go-https")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	port, _ := strconv.Atoi(srv.URL[len("https://127.0.0.1:"):])
	r, err := New("consul://"+addr, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer r.Deregister(context.Background())
	inst := testInstance(name, name+"-1", port)
	inst.Meta["scheme"] = "https"
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	// The registration's "passing" has no output; Consul writes one once it has probed.
	var last agentCheck
	eventually(t, 15*time.Second, "Consul's probe of the HTTPS check passed", func() bool {
		last = agentChecksOf(t, addr, inst.ID)[inst.ID+":http"]
		return last.Status == "passing" && last.Output != ""
	})
	if !strings.Contains(last.Output, "https://127.0.0.1:"+strconv.Itoa(port)+"/healthz") || !strings.Contains(last.Output, "200") {
		t.Errorf("the check's output = %q, want a 200 from https://127.0.0.1:%d/healthz", last.Output, port)
	}
	if svc, _ := agentServiceOf(t, addr, inst.ID); svc.Meta["scheme"] != "https" {
		t.Errorf("meta = %v, want scheme=https for the readers of the registry", svc.Meta)
	}
}

func TestConsulRegistersAgainWhenTheAgentForgetsTheInstance(t *testing.T) {
	addr := sharedConsul(t)
	name := uniqueName("hale-go-lost")
	port, _ := healthServer(t)
	r, err := New("consul://"+addr, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer r.Deregister(context.Background())
	inst := testInstance(name, name+"-1", port)
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	// What an agent restarted in -dev mode looks like to the heartbeat: the check is unknown.
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/v1/agent/service/deregister/"+inst.ID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, ok := agentServiceOf(t, addr, inst.ID); ok {
		t.Fatal("could not remove the instance behind the registrar's back")
	}
	// The next heartbeat (TTL/3) notices and registers again at once; bound with margin.
	eventually(t, 5*time.Second, "instance registered again", func() bool {
		_, ok := agentServiceOf(t, addr, inst.ID)
		return ok
	})
}

func TestConsulWatchSeesAddAndRemove(t *testing.T) {
	addr := sharedConsul(t)
	name := uniqueName("hale-go-watch")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := Watch(ctx, "consul://"+addr, name, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	awaitList(t, ch, 5*time.Second, "the empty first list", hasIDs())
	portA, _ := healthServer(t)
	portB, failingB := healthServer(t)
	a, _ := New("consul://"+addr, testLogger(t))
	defer a.Close()
	b, _ := New("consul://"+addr, testLogger(t))
	defer b.Close()
	defer b.Deregister(context.Background())
	if err := a.Register(ctx, testInstance(name, name+"-a", portA)); err != nil {
		t.Fatal(err)
	}
	list := awaitList(t, ch, 5*time.Second, "instance a", hasIDs(name+"-a"))
	if got := list[0]; got.Name != name || got.Address != "127.0.0.1" || got.Port != portA || got.Meta["weight"] != "2" || fmt.Sprint(got.Tags) != "[test]" {
		t.Errorf("watched instance = %+v, want what was registered", got)
	}
	if err := b.Register(ctx, testInstance(name, name+"-b", portB)); err != nil {
		t.Fatal(err)
	}
	awaitList(t, ch, 5*time.Second, "instances a and b", hasIDs(name+"-a", name+"-b"))
	if err := a.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	awaitList(t, ch, 5*time.Second, "only b", hasIDs(name+"-b"))
	// An unhealthy instance leaves the list too (HTTP check interval 5s + timeout 2s).
	failingB.Store(true)
	awaitList(t, ch, 10*time.Second, "no instance once b fails its health check", hasIDs())
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

// privateConsul runs a throwaway `consul agent -dev` on free ports, so a test can restart it
// without disturbing the shared agent.
type privateConsul struct {
	t     *testing.T
	ports map[string]int
	cmd   *exec.Cmd
}

func startPrivateConsul(t *testing.T) *privateConsul {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a consul agent; skipped with -short")
	}
	if _, err := exec.LookPath("consul"); err != nil {
		t.Skip("consul binary not installed")
	}
	p := &privateConsul{t: t, ports: map[string]int{}}
	for _, k := range []string{"http", "serf-lan", "serf-wan", "server"} {
		p.ports[k] = freePort(t)
	}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *privateConsul) addr() string { return "127.0.0.1:" + strconv.Itoa(p.ports["http"]) }

func (p *privateConsul) start() {
	p.t.Helper()
	p.cmd = exec.Command("consul", "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", uniqueName("hale-go-test"),
		"-http-port", strconv.Itoa(p.ports["http"]), "-serf-lan-port", strconv.Itoa(p.ports["serf-lan"]),
		"-serf-wan-port", strconv.Itoa(p.ports["serf-wan"]), "-server-port", strconv.Itoa(p.ports["server"]),
		"-dns-port", "-1", "-grpc-port", "-1")
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	eventually(p.t, 30*time.Second, "private consul agent elected itself leader", func() bool {
		var leader string
		resp, err := http.Get("http://" + p.addr() + "/v1/status/leader")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&leader)
		return leader != ""
	})
}

func (p *privateConsul) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

func TestConsulRegistersAgainAfterTheAgentRestartsEmpty(t *testing.T) {
	agent := startPrivateConsul(t)
	name := uniqueName("hale-go-restart")
	port, _ := healthServer(t)
	r, err := New("consul://"+agent.addr(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	inst := testInstance(name, name+"-1", port)
	inst.TTL = 3 * time.Second
	if err := r.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := Watch(ctx, "consul://"+agent.addr(), name, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	awaitList(t, ch, 5*time.Second, "the instance before the restart", hasIDs(inst.ID))

	agent.stop()
	time.Sleep(2 * time.Second) // heartbeats and the watch fail meanwhile
	agent.start()               // -dev: a new agent with no services at all
	// Within a few seconds of the agent's return: the next retry (at most TTL/3 = 1s apart)
	// or heartbeat finds it and registers again.
	eventually(t, 5*time.Second, "instance registered again on the restarted agent", func() bool {
		_, ok := agentServiceOf(t, agent.addr(), inst.ID)
		return ok
	})
	// The watch kept the last list through the outage (an unchanged list is not sent again);
	// that it follows the new agent shows when the instance leaves.
	if err := r.Deregister(context.Background()); err != nil {
		t.Fatal(err)
	}
	awaitList(t, ch, 5*time.Second, "the instance gone after Deregister", hasIDs())
}
