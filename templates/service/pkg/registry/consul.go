package registry

// The Consul backend speaks the agent's HTTP API with net/http: registration with an HTTP check
// (Consul polls the instance) and a TTL check (the instance proves it is alive), discovery with
// blocking queries on /v1/health/service/<name>?passing.
//
// An instance that serves TLS (Meta scheme=https) is probed over TLS, without verifying its
// certificate: the agent holds no copy of the service's CA, and it dials the registered address,
// often a pod IP the certificate does not name. Kubernetes' HTTPS probes do the same. The check
// proves the instance answers; the clients that call it verify who it is.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	// consulWait is the blocking-query wait; Consul adds up to wait/16 of jitter.
	consulWait = 30 * time.Second
	// consulMinQueryGap rate-limits the watch loop, as Consul asks of blocking-query clients:
	// an index that never blocks (a bug, or a reset) must not turn into a busy loop.
	consulMinQueryGap = 100 * time.Millisecond
	// consulDeregisterCriticalAfter is Consul's minimum: a crashed instance leaves within about
	// 1m30s even if nobody deregisters it (the reaper runs every 30 s).
	consulDeregisterCriticalAfter = "1m"
)

type consulRegistry struct {
	base   string // http://host:port, or https:// with TLS (tls.go)
	token  string // CONSUL_HTTP_TOKEN, for agents with ACLs enabled
	client *http.Client
}

func newConsul(hostPort string) (*consulRegistry, error) {
	settings, err := consulTLSSettings(os.Getenv)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := settings.config()
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	transport.MaxIdleConnsPerHost = 4
	scheme := "http://"
	if tlsConfig != nil {
		transport.TLSClientConfig = tlsConfig
		scheme = "https://"
	}
	return &consulRegistry{
		base:   scheme + hostPort,
		token:  os.Getenv("CONSUL_HTTP_TOKEN"),
		client: &http.Client{Transport: transport},
	}, nil
}

// consulError is a non-2xx answer from the agent.
type consulError struct {
	method, path string
	status       int
	body         string
}

func (e *consulError) Error() string {
	return fmt.Sprintf("consul %s %s: HTTP %d: %s", e.method, e.path, e.status, e.body)
}

// do sends one request; a non-2xx status comes back as *consulError.
func (c *consulRegistry) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var reader io.Reader
	if body != nil {
		text, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		reader = bytes.NewReader(text)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reader)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("X-Consul-Token", c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, &consulError{method: method, path: path, status: resp.StatusCode, body: strings.TrimSpace(string(text))}
	}
	return resp, nil
}

// call sends a request whose answer body does not matter.
func (c *consulRegistry) call(ctx context.Context, method, path string, body any) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.Body.Close()
}

type consulCheck struct {
	CheckID                        string `json:"CheckID"`
	Name                           string `json:"Name"`
	HTTP                           string `json:"HTTP,omitempty"`
	GRPC                           string `json:"GRPC,omitempty"`
	GRPCUseTLS                     bool   `json:"GRPCUseTLS,omitempty"`
	TLSSkipVerify                  bool   `json:"TLSSkipVerify,omitempty"`
	Interval                       string `json:"Interval,omitempty"`
	Timeout                        string `json:"Timeout,omitempty"`
	TTL                            string `json:"TTL,omitempty"`
	Status                         string `json:"Status,omitempty"`
	DeregisterCriticalServiceAfter string `json:"DeregisterCriticalServiceAfter"`
}

type consulService struct {
	ID      string            `json:"ID"`
	Name    string            `json:"Name"`
	Address string            `json:"Address"`
	Port    int               `json:"Port"`
	Tags    []string          `json:"Tags"`
	Meta    map[string]string `json:"Meta"`
	Checks  []consulCheck     `json:"Checks"`
}

func ttlCheckID(inst Instance) string { return inst.ID + ":ttl" }

func (c *consulRegistry) register(ctx context.Context, inst Instance) error {
	svc := consulService{
		ID: inst.ID, Name: inst.Name, Address: inst.Address, Port: inst.Port,
		Tags: inst.Tags, Meta: inst.Meta,
	}
	overTLS := inst.servesTLS()
	scheme := "http://"
	if overTLS {
		scheme = "https://"
	}
	if inst.Check != "" {
		svc.Checks = append(svc.Checks, consulCheck{
			CheckID:       inst.ID + ":http",
			Name:          "HTTP GET " + inst.Check,
			HTTP:          scheme + net.JoinHostPort(inst.Address, strconv.Itoa(inst.Port)) + inst.Check,
			TLSSkipVerify: overTLS,
			Interval:      "5s",
			Timeout:       "2s",
			// The service registers itself only once it is serving, so it starts passing;
			// Consul's first probe (staggered up to one interval) would otherwise hide a
			// healthy new instance for up to 5 s.
			Status:                         "passing",
			DeregisterCriticalServiceAfter: consulDeregisterCriticalAfter,
		})
	}
	if inst.GRPCCheck != "" {
		svc.Checks = append(svc.Checks, consulCheck{
			CheckID:                        inst.ID + ":grpc",
			Name:                           "gRPC health " + inst.GRPCCheck,
			GRPC:                           net.JoinHostPort(inst.Address, strconv.Itoa(inst.Port)) + "/" + inst.GRPCCheck,
			GRPCUseTLS:                     overTLS,
			TLSSkipVerify:                  overTLS,
			Interval:                       "5s",
			Timeout:                        "2s",
			Status:                         "passing", // as the HTTP check, for the same reason
			DeregisterCriticalServiceAfter: consulDeregisterCriticalAfter,
		})
	}
	svc.Checks = append(svc.Checks, consulCheck{
		CheckID: ttlCheckID(inst),
		Name:    "heartbeat every TTL/3",
		TTL:     max(inst.TTL, time.Second).String(), // as hale register does: no sub-second TTL checks
		// Passing at once: a new check starts critical, which would hide the instance until
		// the first heartbeat.
		Status:                         "passing",
		DeregisterCriticalServiceAfter: consulDeregisterCriticalAfter,
	})
	return c.call(ctx, http.MethodPut, "/v1/agent/service/register?replace-existing-checks=true", svc)
}

func (c *consulRegistry) heartbeat(ctx context.Context, inst Instance) error {
	err := c.call(ctx, http.MethodPut, "/v1/agent/check/pass/"+url.PathEscape(ttlCheckID(inst)), nil)
	if ce, ok := err.(*consulError); ok && consulLostCheck(ce) {
		return fmt.Errorf("%w: %v", errLost, err)
	}
	return err
}

// consulLostCheck recognizes "this agent does not know the check": 404 on current Consul, a 500
// naming the check on older agents (1.8 says `does not have associated TTL`).
func consulLostCheck(e *consulError) bool {
	if e.status == http.StatusNotFound {
		return true
	}
	return e.status == http.StatusInternalServerError &&
		(strings.Contains(e.body, "does not have associated TTL") || strings.Contains(e.body, "Unknown check"))
}

func (c *consulRegistry) deregister(ctx context.Context, inst Instance) error {
	err := c.call(ctx, http.MethodPut, "/v1/agent/service/deregister/"+url.PathEscape(inst.ID), nil)
	if ce, ok := err.(*consulError); ok && ce.status == http.StatusNotFound {
		return nil // already gone: that is what was asked
	}
	return err
}

func (c *consulRegistry) close() error {
	c.client.CloseIdleConnections()
	return nil
}

// consulHealthEntry is the part of /v1/health/service/<name> that discovery needs.
type consulHealthEntry struct {
	Node struct {
		Address string `json:"Address"`
	} `json:"Node"`
	Service struct {
		ID      string            `json:"ID"`
		Service string            `json:"Service"`
		Address string            `json:"Address"`
		Port    int               `json:"Port"`
		Tags    []string          `json:"Tags"`
		Meta    map[string]string `json:"Meta"`
	} `json:"Service"`
	Checks []struct {
		CheckID    string `json:"CheckID"`
		Definition struct {
			HTTP string `json:"HTTP"`
		} `json:"Definition"`
	} `json:"Checks"`
}

func (e consulHealthEntry) instance() Instance {
	inst := Instance{
		Name: e.Service.Service, ID: e.Service.ID, Address: e.Service.Address, Port: e.Service.Port,
		Tags: e.Service.Tags, Meta: e.Service.Meta,
	}
	if inst.Address == "" {
		inst.Address = e.Node.Address // Consul's rule: no service address means the node's
	}
	if inst.Tags == nil {
		inst.Tags = []string{}
	}
	if inst.Meta == nil {
		inst.Meta = map[string]string{}
	}
	// Recover the health path from hale's own HTTP check, when the agent reports it.
	for _, check := range e.Checks {
		if check.CheckID == inst.ID+":http" {
			if u, err := url.Parse(check.Definition.HTTP); err == nil && u.Path != "" {
				inst.Check = u.Path
			}
		}
	}
	return inst
}

// healthy runs one blocking query: it returns when the list changes past index or the wait
// ends, with the list and the new index.
func (c *consulRegistry) healthy(ctx context.Context, service string, index uint64) ([]Instance, uint64, error) {
	path := "/v1/health/service/" + url.PathEscape(service) + "?passing=true"
	if index > 0 {
		path += "&index=" + strconv.FormatUint(index, 10) + "&wait=" + consulWait.String()
	}
	ctx, cancel := context.WithTimeout(ctx, consulWait+consulWait/16+10*time.Second)
	defer cancel()
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var entries []consulHealthEntry
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(&entries); err != nil {
		return nil, 0, fmt.Errorf("consul GET %s: unreadable answer: %w", path, err)
	}
	next, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("consul GET %s: missing X-Consul-Index header", path)
	}
	list := make([]Instance, 0, len(entries))
	for _, e := range entries {
		list = append(list, e.instance())
	}
	return list, next, nil
}

func (c *consulRegistry) follow(ctx context.Context, service string, s *sender, logger *slog.Logger) {
	trouble := watchFailures{logger: logger}
	retry := backoff{start: retryStart, cap: 5 * time.Second}
	var index uint64
	for {
		started := time.Now()
		list, next, err := c.healthy(ctx, service, index)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait := retry.next()
			trouble.failed(ctx, err, wait)
			// The agent may come back as a new process with a fresh index: start over.
			index = 0
			if !sleep(ctx, wait) {
				return
			}
			continue
		}
		trouble.succeeded()
		retry.reset()
		s.send(list)
		// Consul's rules for blocking-query clients: an index that went backwards means the
		// agent's state was reset, so ask afresh; never block on index 0.
		switch {
		case next < index:
			index = 0
		case next == 0:
			index = 1
		default:
			index = next
		}
		if !sleep(ctx, consulMinQueryGap-time.Since(started)) {
			return
		}
	}
}
