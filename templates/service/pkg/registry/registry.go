// Package registry registers this service in a service registry (Consul, etcd or hale's shared
// JSON file) and discovers the live instances of other services.
//
// The formats are the ones hale's own `hale register` / `hale discover` read and write, so the
// CLI and the generated services see the same instances. A registry that is down never stops the
// service: registration keeps retrying in the background and recovers by itself when the
// registry returns, including when it returns without the instance (restart, wiped state).
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTTL is the time an instance stays registered without a heartbeat when Instance.TTL is 0.
const DefaultTTL = 10 * time.Second

// acceptedForms is appended to every URL error so the reader knows what to write instead.
const acceptedForms = "use consul://host:port, etcd://host:port or file:///absolute/path.json"

var (
	// ErrInvalidURL wraps every error about a registry URL that cannot be used.
	ErrInvalidURL = errors.New("invalid registry URL")
	// ErrInvalidInstance wraps every error about an Instance that cannot be registered.
	ErrInvalidInstance = errors.New("invalid instance")
	// errLost is what a heartbeat reports when the registry no longer holds the instance (agent
	// restarted, lease or file entry expired): the keeper registers it again at once.
	errLost = errors.New("the registry no longer holds this instance")
)

// Instance is one running copy of a service as the registry holds it.
type Instance struct {
	Name    string
	ID      string
	Address string
	Port    int
	Tags    []string
	// Meta carries "version" and "weight" (integer weight for weighted balancing, default 1),
	// and "scheme": "https" when the instance serves TLS (what `hale load` and go-micro read;
	// Consul's checks then probe it over TLS).
	Meta map[string]string
	// Check is the HTTP health path (e.g. "/healthz") Consul polls; empty means no HTTP check.
	Check string
	// GRPCCheck is the grpc.health.v1 service name Consul checks on the same address and port
	// (a gRPC check beside the HTTP one); empty means no gRPC check.
	GRPCCheck string
	// TTL is how long the instance survives without a heartbeat; 0 means DefaultTTL. Watch
	// fills it only for file registries, whose entries record it.
	TTL time.Duration
}

// servesTLS tells whether the instance says it serves TLS (Meta scheme=https).
func (inst Instance) servesTLS() bool { return strings.EqualFold(inst.Meta["scheme"], "https") }

// Registrar keeps one instance registered until it is told to stop.
type Registrar interface {
	// Register validates inst, makes the first registration attempt (bounded to a few seconds
	// and by ctx) and returns its outcome. Whatever that outcome, the instance is then kept
	// registered in the background until Deregister or Close: heartbeats every TTL/3, retries
	// with jittered exponential backoff while the registry is unreachable, and registers again
	// when the registry has lost it. Only a validation error (ErrInvalidInstance) or a second
	// call leaves nothing running.
	Register(ctx context.Context, inst Instance) error
	// Deregister stops the background loop and removes the instance, best effort within ctx.
	Deregister(ctx context.Context) error
	// Close stops the background loop and releases connections without deregistering: the
	// registry's TTL then removes the instance, exactly as after a crash. Idempotent.
	Close() error
}

// backend is one registry's protocol; the keeper drives it.
type backend interface {
	register(ctx context.Context, inst Instance) error
	// heartbeat refreshes the registration; errLost means it has to be registered again.
	heartbeat(ctx context.Context, inst Instance) error
	deregister(ctx context.Context, inst Instance) error
	close() error
}

// location is a parsed registry URL.
type location struct {
	scheme string // consul, etcd or file
	host   string // host:port for consul and etcd
	path   string // absolute path for file
}

func (l location) String() string {
	if l.scheme == "file" {
		return "file://" + l.path
	}
	return l.scheme + "://" + l.host
}

func parseURL(raw string) (location, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s; %s", ErrInvalidURL, raw, why, acceptedForms)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return location{}, bad("no scheme")
	}
	switch scheme {
	case "consul", "etcd":
		addr := strings.TrimSuffix(rest, "/")
		if strings.ContainsAny(addr, "/@?#") {
			return location{}, bad("expected host:port only")
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" {
			return location{}, bad("expected host:port")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return location{}, bad("port must be 1-65535")
		}
		return location{scheme: scheme, host: addr}, nil
	case "file":
		u, err := url.Parse(raw)
		if err != nil || u.Host != "" || u.RawQuery != "" || u.Fragment != "" {
			return location{}, bad("expected file:///absolute/path.json (three slashes, no host)")
		}
		if !filepath.IsAbs(u.Path) || strings.HasSuffix(u.Path, "/") {
			return location{}, bad("expected an absolute path to a file")
		}
		return location{scheme: "file", path: filepath.Clean(u.Path)}, nil
	default:
		return location{}, bad(fmt.Sprintf("unknown scheme %q", scheme))
	}
}

// New returns a Registrar for url. It does no I/O: an unreachable registry never fails New.
// logger may be nil.
func New(url string, logger *slog.Logger) (Registrar, error) {
	loc, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = discard()
	}
	logger = logger.With("registry", loc.String())
	var b backend
	switch loc.scheme {
	case "consul":
		c, err := newConsul(loc.host)
		if err != nil {
			return nil, err
		}
		b = c
	case "etcd":
		e, err := newEtcd(loc.host)
		if err != nil {
			return nil, err
		}
		b = e
	default:
		b = newFileRegistry(loc.path)
	}
	return &keeper{backend: b, logger: logger}, nil
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// validName accepts what is safe inside an etcd key, a Consul URL path and a log line.
func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// normalize fills defaults and checks inst, so every backend writes the same shape.
func normalize(inst Instance) (Instance, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidInstance, fmt.Sprintf(format, args...))
	}
	if !validName(inst.Name) {
		return inst, bad("name %q: use 1-128 letters, digits, '.', '_' or '-'", inst.Name)
	}
	if !validName(inst.ID) {
		return inst, bad("id %q: use 1-128 letters, digits, '.', '_' or '-'", inst.ID)
	}
	if inst.Address == "" || strings.ContainsAny(inst.Address, "/ ") {
		return inst, bad("address %q: give the host or IP other services reach this one at", inst.Address)
	}
	if inst.Port < 1 || inst.Port > 65535 {
		return inst, bad("port %d: must be 1-65535", inst.Port)
	}
	if inst.Check != "" && !strings.HasPrefix(inst.Check, "/") {
		return inst, bad("check %q: must be an HTTP path starting with '/'", inst.Check)
	}
	switch {
	case inst.TTL == 0:
		inst.TTL = DefaultTTL
	case inst.TTL < 100*time.Millisecond:
		return inst, bad("ttl %s: must be at least 100ms", inst.TTL)
	}
	inst.Tags = append([]string{}, inst.Tags...)
	meta := make(map[string]string, len(inst.Meta))
	for k, v := range inst.Meta {
		meta[k] = v
	}
	inst.Meta = meta
	return inst, nil
}

// sortInstances orders a discovery result by ID (then name) so equal sets compare equal.
func sortInstances(list []Instance) {
	sort.Slice(list, func(i, j int) bool {
		if list[i].ID != list[j].ID {
			return list[i].ID < list[j].ID
		}
		return list[i].Name < list[j].Name
	})
}

// Retry and heartbeat timing.
const (
	// firstAttemptTimeout bounds Register's synchronous attempt, so an unreachable registry
	// delays start-up by at most this much.
	firstAttemptTimeout = 3 * time.Second
	// callTimeout bounds every background call, so a hung registry cannot stall heartbeats.
	callTimeout = 5 * time.Second
	retryStart  = 250 * time.Millisecond
)

// retryCap is the longest pause between attempts while the registry is away. A registered
// instance talks to the registry every TTL/3 anyway, so retrying at that pace costs the
// registry nothing extra, and it bounds how long after its return the instance reappears.
func retryCap(ttl time.Duration) time.Duration {
	return min(max(ttl/3, time.Second), 30*time.Second)
}

// backoff is capped exponential backoff with "equal jitter": half the step fixed, half random,
// so a fleet that lost its registry at the same moment does not come back in lockstep.
type backoff struct {
	start, cap time.Duration
	step       time.Duration
}

func (b *backoff) next() time.Duration {
	if b.step == 0 {
		b.step = b.start
	}
	d := b.step
	b.step = min(b.step*2, b.cap)
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.step = 0 }

// sleep waits d or until ctx ends; it reports whether the wait ran to completion.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// keeper is the Registrar shared by every backend: it owns the retry/heartbeat loop.
type keeper struct {
	backend backend
	logger  *slog.Logger

	mu      sync.Mutex
	inst    Instance
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
	closed  bool
}

func (k *keeper) Register(ctx context.Context, inst Instance) error {
	inst, err := normalize(inst)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.started || k.stopped {
		return errors.New("registry: Register may be called once per Registrar")
	}
	k.started = true
	k.inst = inst

	firstCtx, cancelFirst := context.WithTimeout(ctx, firstAttemptTimeout)
	err = k.backend.register(firstCtx, inst)
	cancelFirst()
	if err != nil {
		err = fmt.Errorf("registering %s/%s: %w", inst.Name, inst.ID, err)
	}

	loopCtx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	k.done = make(chan struct{})
	go k.run(loopCtx, inst, err == nil)
	return err
}

// run keeps inst registered until ctx ends.
func (k *keeper) run(ctx context.Context, inst Instance, registered bool) {
	defer close(k.done)
	every := inst.TTL / 3
	retry := backoff{start: retryStart, cap: retryCap(inst.TTL)}
	failures := 0
	wait := every
	if !registered {
		failures = 1
		wait = retry.next()
	}
	log := k.logger.With("service", inst.Name, "id", inst.ID)
	for sleep(ctx, wait) {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		var err error
		if registered {
			err = k.backend.heartbeat(callCtx, inst)
		} else {
			err = k.backend.register(callCtx, inst)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case registered && errors.Is(err, errLost):
			log.Warn("the registry lost this instance; registering again")
			registered = false
			wait = 0
			continue
		case err != nil:
			failures++
			wait = retry.next()
			// One warning when trouble starts, then one every ~10 attempts: enough to see
			// it is still going on without flooding the log while the registry is down.
			level := slog.LevelDebug
			if failures == 1 || failures%10 == 0 {
				level = slog.LevelWarn
			}
			what := "registration failed"
			if registered {
				what = "heartbeat failed"
			}
			log.Log(ctx, level, what+"; retrying", "error", err, "attempt", failures, "retry_in", wait.Round(time.Millisecond).String())
			continue
		}
		if !registered || failures > 0 {
			log.Info("registered", "after_failures", failures)
		}
		registered = true
		failures = 0
		retry.reset()
		wait = every
	}
}

// stop ends the background loop and waits for it, so no call races what follows.
func (k *keeper) stop() (Instance, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	if k.cancel != nil {
		k.cancel()
		<-k.done
		k.cancel = nil
	}
	return k.inst, k.started
}

func (k *keeper) Deregister(ctx context.Context) error {
	inst, started := k.stop()
	if !started {
		return nil
	}
	if err := k.backend.deregister(ctx, inst); err != nil {
		return fmt.Errorf("deregistering %s/%s: %w", inst.Name, inst.ID, err)
	}
	return nil
}

func (k *keeper) Close() error {
	k.stop()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	return k.backend.close()
}

// Watch follows the healthy instances of service in the registry at url. The channel (buffer 1,
// latest value wins) receives the current list, sorted by ID, as soon as the registry answers,
// then every change. While the registry is unreachable the last list stays in force and Watch
// retries with backoff. The channel closes when ctx ends. Only a bad url or service name is an
// error. logger may be nil.
func Watch(ctx context.Context, url, service string, logger *slog.Logger) (<-chan []Instance, error) {
	loc, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	if !validName(service) {
		return nil, fmt.Errorf("registry: service name %q: use 1-128 letters, digits, '.', '_' or '-'", service)
	}
	if logger == nil {
		logger = discard()
	}
	logger = logger.With("registry", loc.String(), "watch", service)
	out := make(chan []Instance, 1)
	s := &sender{out: out}
	var follow func(context.Context)
	switch loc.scheme {
	case "consul":
		c, err := newConsul(loc.host)
		if err != nil {
			return nil, err
		}
		follow = func(ctx context.Context) { c.follow(ctx, service, s, logger); _ = c.close() }
	case "etcd":
		e, err := newEtcd(loc.host)
		if err != nil {
			return nil, err
		}
		follow = func(ctx context.Context) { e.follow(ctx, service, s, logger); _ = e.close() }
	default:
		f := newFileRegistry(loc.path)
		follow = func(ctx context.Context) { f.follow(ctx, service, s, logger) }
	}
	go func() {
		defer close(out)
		follow(ctx)
	}()
	return out, nil
}

// sender delivers lists to a Watch channel: only changes, never blocking, newest wins.
type sender struct {
	out  chan []Instance
	last []Instance
	sent bool
}

func (s *sender) send(list []Instance) {
	sortInstances(list)
	if s.sent && equalInstances(s.last, list) {
		return
	}
	s.sent = true
	s.last = list
	// Only this goroutine sends, so after dropping an unread stale list the send cannot block.
	select {
	case <-s.out:
	default:
	}
	s.out <- append([]Instance(nil), list...)
}

func equalInstances(a, b []Instance) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Name != y.Name || x.ID != y.ID || x.Address != y.Address || x.Port != y.Port ||
			x.Check != y.Check || x.GRPCCheck != y.GRPCCheck || x.TTL != y.TTL || len(x.Tags) != len(y.Tags) || len(x.Meta) != len(y.Meta) {
			return false
		}
		for j := range x.Tags {
			if x.Tags[j] != y.Tags[j] {
				return false
			}
		}
		for k, v := range x.Meta {
			if w, ok := y.Meta[k]; !ok || w != v {
				return false
			}
		}
	}
	return true
}

// watchFailures logs a follow loop's trouble like the keeper does: once when it starts, then
// every tenth attempt, and once when the registry answers again.
type watchFailures struct {
	logger *slog.Logger
	count  int
}

func (w *watchFailures) failed(ctx context.Context, err error, retryIn time.Duration) {
	w.count++
	level := slog.LevelDebug
	if w.count == 1 || w.count%10 == 0 {
		level = slog.LevelWarn
	}
	w.logger.Log(ctx, level, "discovery failed; keeping the last instance list", "error", err,
		"attempt", w.count, "retry_in", retryIn.Round(time.Millisecond).String())
}

func (w *watchFailures) succeeded() {
	if w.count > 0 {
		w.logger.Info("discovery recovered", "after_failures", w.count)
	}
	w.count = 0
}
