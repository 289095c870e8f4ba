// Package breaker is a per-instance three-state circuit breaker: it stops sending calls to an
// instance whose recent calls mostly fail, and lets a few probes through later to find out
// whether it recovered.
//
// Closed: calls pass, and their outcomes go into a sliding time window (Window, kept in
// Buckets buckets). Once at least MinCalls calls completed in the window and the share of
// failures is at least FailureRate, the breaker opens. Open: every call is refused for
// Cooldown. Half-open: HalfOpenProbes calls are let through; when they all succeed the
// breaker closes with an empty window, and the first failure opens it again.
// These are resilience4j's semantics (CircuitBreakerConfig, time-based sliding window).
//
// Hand-written rather than wrapping sony/gobreaker/v2, which the service already depends
// on: gobreaker v2.4 can express a failure rate over a rolling window (ReadyToTrip over
// Counts with BucketPeriod), but it reads time.Now directly, so every transition could only
// be tested with real sleeps; and it counts a call into the window when it starts, so a
// minimum-calls rule would count calls still in flight. Here the clock is injectable and
// only completed calls count, and the whole state machine stays about two hundred lines.
package breaker

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// State is where a breaker is; its String is the state label of the
// downstream_breaker_state gauge.
type State int

const (
	Closed   State = 0
	HalfOpen State = 1
	Open     State = 2
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	default:
		return fmt.Sprintf("State(%d)", int(s))
	}
}

// Outcome is how an admitted call ended, as far as the breaker is concerned.
type Outcome int

const (
	// Success: the instance answered properly.
	Success Outcome = iota
	// Failure: a transport error, a timeout or a 5xx.
	Failure
	// Ignored: the call says nothing about the instance (the caller gave up first); it is
	// not counted and, in half-open, gives its probe slot back.
	Ignored
)

// Config tunes a breaker. Zero fields take the DefaultConfig values.
type Config struct {
	// FailureRate opens the breaker when failures/calls in the window reach it (0 < r ≤ 1).
	FailureRate float64
	// Window is the sliding window's length.
	Window time.Duration
	// Buckets is how many slices the window is kept in; it slides one bucket at a time.
	Buckets int
	// MinCalls is how many completed calls the window must hold before the rate counts, so
	// one failure out of one call does not open the breaker.
	MinCalls int
	// Cooldown is how long the breaker stays open before it lets probes through.
	Cooldown time.Duration
	// HalfOpenProbes is how many calls half-open admits; all must succeed to close.
	HalfOpenProbes int
	// ConsecutiveFailures opens the breaker after that many failures in a row, whatever
	// MinCalls says, so an instance taking fewer than MinCalls per Window is still ejected
	// (Finagle's and Envoy's 5). A negative value turns the rule off.
	ConsecutiveFailures int
}

// DefaultConfig is resilience4j's rule (50 % over the window after a minimum of calls) with
// shorter local times: a 10 s window in 10 buckets, 20 calls minimum, 3 probes, and a 5 s
// cooldown where resilience4j waits 60 s, because hale's fleets are local and its load
// tests run for tens of seconds: a minute-long open state would outlast the whole test
// before recovery could be seen.
func DefaultConfig() Config {
	return Config{
		FailureRate:    0.5,
		Window:         10 * time.Second,
		Buckets:        10,
		MinCalls:       20,
		Cooldown:       5 * time.Second,
		HalfOpenProbes: 3,

		ConsecutiveFailures: 5,
	}
}

// WithDefaults fills the zero fields from DefaultConfig.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.FailureRate == 0 {
		c.FailureRate = d.FailureRate
	}
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.Buckets == 0 {
		c.Buckets = d.Buckets
	}
	if c.MinCalls == 0 {
		c.MinCalls = d.MinCalls
	}
	if c.Cooldown == 0 {
		c.Cooldown = d.Cooldown
	}
	if c.HalfOpenProbes == 0 {
		c.HalfOpenProbes = d.HalfOpenProbes
	}
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = d.ConsecutiveFailures
	}
	return c
}

// Validate says which field is out of range and what it should be.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, value any, want string) {
		errs = append(errs, fmt.Errorf("breaker %s = %v: want %s", field, value, want))
	}
	if !(c.FailureRate > 0 && c.FailureRate <= 1) {
		bad("failure rate", c.FailureRate, "a share above 0 and at most 1, such as 0.5")
	}
	if c.Window <= 0 {
		bad("window", c.Window, "a positive duration, such as 10s")
	}
	if c.Buckets < 1 {
		bad("buckets", c.Buckets, "at least 1")
	} else if c.Window > 0 && c.Window/time.Duration(c.Buckets) < time.Millisecond {
		bad("buckets", c.Buckets, fmt.Sprintf("at most one per millisecond of the %v window", c.Window))
	}
	if c.MinCalls < 1 {
		bad("minimum calls", c.MinCalls, "at least 1")
	}
	if c.Cooldown <= 0 {
		bad("cooldown", c.Cooldown, "a positive duration, such as 5s")
	}
	if c.HalfOpenProbes < 1 {
		bad("half-open probes", c.HalfOpenProbes, "at least 1")
	}
	return errors.Join(errs...)
}

// Errors Allow returns when it refuses a call.
var (
	ErrOpen       = errors.New("circuit breaker is open")
	ErrProbeLimit = errors.New("circuit breaker is half-open and all its probes are in flight")
)

// Option adjusts a Breaker at construction.
type Option func(*Breaker)

// WithClock replaces time.Now; tests drive the breaker with a fake clock.
func WithClock(now func() time.Time) Option { return func(b *Breaker) { b.now = now } }

// WithStateChange calls fn on every transition, while the breaker's lock is held so that
// transitions are reported in order; fn must be quick and must not call the Breaker.
func WithStateChange(fn func(from, to State)) Option {
	return func(b *Breaker) { b.onChange = fn }
}

// Breaker guards one instance. It is safe for concurrent use.
type Breaker struct {
	cfg      Config
	now      func() time.Time
	onChange func(from, to State)
	width    time.Duration // one bucket's span

	mu         sync.Mutex
	state      State
	generation uint64 // bumps on every transition; outcomes of older calls are dropped
	openedAt   time.Time
	buckets    []bucket
	probes     int // half-open: probes admitted and not given back
	passed     int // half-open: probes that succeeded
	streak     int // closed: failures in a row
}

// bucket counts the outcomes of one slice of the window; epoch says which slice, so a
// bucket left over from an earlier lap of the ring is recognised as stale.
type bucket struct {
	epoch    int64
	calls    int
	failures int
}

// New builds a closed breaker; zero Config fields take their defaults.
func New(cfg Config, opts ...Option) (*Breaker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Breaker{cfg: cfg, now: time.Now, width: cfg.Window / time.Duration(cfg.Buckets)}
	for _, opt := range opts {
		opt(b)
	}
	b.buckets = make([]bucket, cfg.Buckets)
	return b, nil
}

// Config is the breaker's effective configuration.
func (b *Breaker) Config() Config { return b.cfg }

// State is the breaker's state now; an open breaker whose cooldown is over reports (and
// becomes) half-open.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.advance(b.now())
}

// Ready says whether Allow would admit a call now, without taking a probe slot or changing
// state, so a balancer can skip instances that would refuse.
func (b *Breaker) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		return true
	case Open:
		return !b.now().Before(b.openedAt.Add(b.cfg.Cooldown))
	default:
		return b.probes < b.cfg.HalfOpenProbes
	}
}

// Counts reports the completed calls and failures in the current window (closed state).
func (b *Breaker) Counts() (calls, failures int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.windowCounts(b.now())
}

// Allow asks to make one call. When admitted, done must be called exactly once with how the
// call ended (further calls are ignored); when refused, err is ErrOpen or ErrProbeLimit.
func (b *Breaker) Allow() (done func(Outcome), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.advance(b.now()) {
	case Open:
		return nil, ErrOpen
	case HalfOpen:
		if b.probes >= b.cfg.HalfOpenProbes {
			return nil, ErrProbeLimit
		}
		b.probes++
	}
	generation := b.generation
	var once sync.Once
	return func(o Outcome) { once.Do(func() { b.record(generation, o) }) }, nil
}

func (b *Breaker) record(generation uint64, o Outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if generation != b.generation {
		return // the call began in an earlier state; its outcome no longer applies
	}
	switch b.state {
	case Closed:
		if o == Ignored {
			return
		}
		bk := b.bucketAt(now)
		bk.calls++
		b.streak++
		if o == Failure {
			bk.failures++
		} else {
			b.streak = 0
		}
		calls, failures := b.windowCounts(now)
		if calls >= b.cfg.MinCalls && float64(failures) >= b.cfg.FailureRate*float64(calls) ||
			b.cfg.ConsecutiveFailures > 0 && b.streak >= b.cfg.ConsecutiveFailures {
			b.transition(Open, now)
		}
	case HalfOpen:
		switch o {
		case Ignored:
			b.probes--
		case Failure:
			b.transition(Open, now)
		case Success:
			b.passed++
			if b.passed >= b.cfg.HalfOpenProbes {
				b.transition(Closed, now)
			}
		}
	}
}

// advance moves an open breaker whose cooldown is over to half-open.
func (b *Breaker) advance(now time.Time) State {
	if b.state == Open && !now.Before(b.openedAt.Add(b.cfg.Cooldown)) {
		b.transition(HalfOpen, now)
	}
	return b.state
}

func (b *Breaker) transition(to State, now time.Time) {
	from := b.state
	b.state = to
	b.generation++
	b.probes, b.passed, b.streak = 0, 0, 0
	switch to {
	case Open:
		b.openedAt = now
	case Closed:
		clear(b.buckets) // a closed breaker starts from a clean window
	}
	if b.onChange != nil {
		b.onChange(from, to)
	}
}

func (b *Breaker) epoch(now time.Time) int64 { return now.UnixNano() / int64(b.width) }

// bucketAt is the bucket for now, emptied first if it still holds an older lap's counts.
func (b *Breaker) bucketAt(now time.Time) *bucket {
	e := b.epoch(now)
	bk := &b.buckets[int(e%int64(len(b.buckets)))]
	if bk.epoch != e {
		*bk = bucket{epoch: e}
	}
	return bk
}

// windowCounts sums the buckets whose slice lies within the last Window.
func (b *Breaker) windowCounts(now time.Time) (calls, failures int) {
	e := b.epoch(now)
	oldest := e - int64(len(b.buckets)) + 1
	for _, bk := range b.buckets {
		if bk.epoch >= oldest && bk.epoch <= e {
			calls += bk.calls
			failures += bk.failures
		}
	}
	return calls, failures
}
