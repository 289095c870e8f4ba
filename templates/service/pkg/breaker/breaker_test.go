package breaker

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

type transition struct{ from, to State }

// newTestBreaker is a default breaker on a fake clock that records its transitions. Unless
// cfg says otherwise, the consecutive-failures rule is off, so the failure-rate rule is
// tested alone.
func newTestBreaker(t *testing.T, cfg Config) (*Breaker, *fakeClock, *[]transition) {
	t.Helper()
	if cfg.ConsecutiveFailures == 0 {
		cfg.ConsecutiveFailures = -1
	}
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	var seen []transition
	b, err := New(cfg, WithClock(clock.Now), WithStateChange(func(from, to State) {
		seen = append(seen, transition{from, to})
	}))
	if err != nil {
		t.Fatal(err)
	}
	return b, clock, &seen
}

// call makes n calls that end with outcome o, failing the test if one is refused.
func call(t *testing.T, b *Breaker, n int, o Outcome) {
	t.Helper()
	for i := 0; i < n; i++ {
		done, err := b.Allow()
		if err != nil {
			t.Fatalf("call %d refused: %v", i, err)
		}
		done(o)
	}
}

func wantState(t *testing.T, b *Breaker, want State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state = %v; want %v", got, want)
	}
}

func TestBreakerOpensOnlyOnceTheMinimumNumberOfCallsIsReached(t *testing.T) {
	b, _, seen := newTestBreaker(t, Config{})
	call(t, b, 19, Failure)
	wantState(t, b, Closed) // 100 % failures, but only 19 of the 20 calls required
	call(t, b, 1, Failure)
	wantState(t, b, Open)
	if len(*seen) != 1 || (*seen)[0] != (transition{Closed, Open}) {
		t.Errorf("transitions = %v; want closed→open", *seen)
	}
}

func TestBreakerOpensWhenTheFailureRateReachesTheThreshold(t *testing.T) {
	b, _, _ := newTestBreaker(t, Config{})
	call(t, b, 11, Success)
	call(t, b, 9, Failure)
	wantState(t, b, Closed) // 9 of 20 = 45 % < 50 %
	call(t, b, 1, Failure)
	wantState(t, b, Closed) // 10 of 21 = 47.6 %
	call(t, b, 1, Failure)
	wantState(t, b, Open) // 11 of 22 = 50 %
}

func TestBreakerTripsAtExactlyTheFailureRate(t *testing.T) {
	b, _, _ := newTestBreaker(t, Config{})
	call(t, b, 10, Success)
	call(t, b, 9, Failure)
	wantState(t, b, Closed) // 9 of 19 calls: under the minimum anyway
	call(t, b, 1, Failure)
	wantState(t, b, Open) // 10 of 20 = 50 %: the threshold is inclusive
}

func TestBreakerIgnoresOutcomesThatLeftTheSlidingWindow(t *testing.T) {
	b, clock, _ := newTestBreaker(t, Config{})
	call(t, b, 15, Failure)
	clock.Advance(10 * time.Second) // the whole window slid past those 15
	call(t, b, 19, Failure)
	wantState(t, b, Closed)
	if calls, failures := b.Counts(); calls != 19 || failures != 19 {
		t.Errorf("window holds %d calls, %d failures; want 19, 19", calls, failures)
	}

	// Failures spread over the window still add up.
	b2, clock2, _ := newTestBreaker(t, Config{})
	call(t, b2, 10, Failure)
	clock2.Advance(9 * time.Second) // still inside the 10 s window
	call(t, b2, 10, Failure)
	wantState(t, b2, Open)
}

func TestOpenBreakerRefusesCallsUntilTheCooldownEnds(t *testing.T) {
	b, clock, seen := newTestBreaker(t, Config{})
	call(t, b, 20, Failure)
	clock.Advance(5*time.Second - time.Millisecond)
	if _, err := b.Allow(); !errors.Is(err, ErrOpen) {
		t.Fatalf("Allow during cooldown: err = %v; want ErrOpen", err)
	}
	if b.Ready() {
		t.Error("Ready() during cooldown = true")
	}
	clock.Advance(time.Millisecond)
	if !b.Ready() {
		t.Error("Ready() after cooldown = false")
	}
	done, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow after cooldown: %v", err)
	}
	wantState(t, b, HalfOpen)
	done(Success)
	want := []transition{{Closed, Open}, {Open, HalfOpen}}
	if len(*seen) != 2 || (*seen)[0] != want[0] || (*seen)[1] != want[1] {
		t.Errorf("transitions = %v; want %v", *seen, want)
	}
}

// halfOpen drives a default breaker to half-open.
func halfOpen(t *testing.T) (*Breaker, *fakeClock, *[]transition) {
	b, clock, seen := newTestBreaker(t, Config{})
	call(t, b, 20, Failure)
	clock.Advance(5 * time.Second)
	wantState(t, b, HalfOpen)
	return b, clock, seen
}

func TestHalfOpenBreakerAdmitsOnlyItsProbes(t *testing.T) {
	b, _, _ := halfOpen(t)
	var dones []func(Outcome)
	for i := 0; i < 3; i++ {
		done, err := b.Allow()
		if err != nil {
			t.Fatalf("probe %d refused: %v", i, err)
		}
		dones = append(dones, done)
	}
	if _, err := b.Allow(); !errors.Is(err, ErrProbeLimit) {
		t.Fatalf("fourth call in half-open: err = %v; want ErrProbeLimit", err)
	}
	if b.Ready() {
		t.Error("Ready() with every probe in flight = true")
	}
	dones[0](Ignored) // a probe whose caller gave up returns its slot
	if !b.Ready() {
		t.Error("Ready() after a probe was given back = false")
	}
	dones[1](Success)
	dones[2](Success)
	wantState(t, b, HalfOpen) // two successes of three needed
}

func TestHalfOpenBreakerClosesWhenEveryProbeSucceeds(t *testing.T) {
	b, _, seen := halfOpen(t)
	call(t, b, 3, Success)
	wantState(t, b, Closed)
	if calls, failures := b.Counts(); calls != 0 || failures != 0 {
		t.Errorf("closed again with %d calls, %d failures in the window; want an empty window", calls, failures)
	}
	if got := (*seen)[len(*seen)-1]; got != (transition{HalfOpen, Closed}) {
		t.Errorf("last transition = %v; want half-open→closed", got)
	}
	// The fresh window needs the minimum again before it can trip.
	call(t, b, 19, Failure)
	wantState(t, b, Closed)
}

func TestHalfOpenBreakerReopensOnTheFirstFailedProbe(t *testing.T) {
	b, clock, seen := halfOpen(t)
	call(t, b, 1, Success)
	call(t, b, 1, Failure)
	wantState(t, b, Open)
	if got := (*seen)[len(*seen)-1]; got != (transition{HalfOpen, Open}) {
		t.Errorf("last transition = %v; want half-open→open", got)
	}
	// A full cooldown starts again from the reopening.
	clock.Advance(5*time.Second - time.Millisecond)
	if _, err := b.Allow(); !errors.Is(err, ErrOpen) {
		t.Errorf("Allow before the second cooldown ended: err = %v; want ErrOpen", err)
	}
	clock.Advance(time.Millisecond)
	wantState(t, b, HalfOpen)
}

func TestOutcomeOfACallStartedInAnEarlierStateIsDropped(t *testing.T) {
	b, clock, _ := newTestBreaker(t, Config{})
	late, err := b.Allow() // starts while closed
	if err != nil {
		t.Fatal(err)
	}
	call(t, b, 20, Failure)
	clock.Advance(5 * time.Second)
	wantState(t, b, HalfOpen)
	late(Failure) // a slow call from before the trip must not reopen the breaker
	wantState(t, b, HalfOpen)
	late(Failure) // and calling done twice changes nothing either
	call(t, b, 3, Success)
	wantState(t, b, Closed)
}

// An instance taking fewer calls than MinCalls per window is still ejected once it fails
// ConsecutiveFailures times in a row; a success in between starts the count again.
func TestBreakerOpensAfterConsecutiveFailuresBelowTheMinimumOfCalls(t *testing.T) {
	b, clock, seen := newTestBreaker(t, Config{ConsecutiveFailures: 5})
	call(t, b, 4, Failure)
	call(t, b, 1, Success)
	call(t, b, 4, Failure)
	wantState(t, b, Closed)         // 8 failures of 9 calls, never 5 in a row, under 20 calls
	clock.Advance(30 * time.Second) // a fresh window: the streak still counts
	call(t, b, 1, Failure)
	wantState(t, b, Open)
	if len(*seen) != 1 || (*seen)[0] != (transition{Closed, Open}) {
		t.Errorf("transitions = %v; want closed→open", *seen)
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Config(); got != DefaultConfig() {
		t.Errorf("zero config became %+v; want the defaults %+v", got, DefaultConfig())
	}
	_, err = New(Config{FailureRate: 1.5, Window: -time.Second, MinCalls: -1, Cooldown: -1, HalfOpenProbes: -2, Buckets: -1})
	if err == nil {
		t.Fatal("New accepted an invalid config")
	}
	for _, field := range []string{"failure rate", "window", "minimum calls", "cooldown", "half-open probes", "buckets"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %q", err, field)
		}
	}
}

func TestBreakerCountsEveryConcurrentOutcome(t *testing.T) {
	// A minimum it never reaches keeps the breaker closed, so every outcome must land in
	// the window: none lost to a race.
	b, _, _ := newTestBreaker(t, Config{MinCalls: 1_000_000})
	var wg sync.WaitGroup
	wantFailures := 0
	for g := 0; g < 8; g++ {
		for i := 0; i < 1000; i++ {
			if (g+i)%3 == 0 {
				wantFailures++
			}
		}
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				done, err := b.Allow()
				if err != nil {
					t.Errorf("closed breaker refused: %v", err)
					return
				}
				if (g+i)%3 == 0 {
					done(Failure)
				} else {
					done(Success)
				}
				_ = b.Ready()
			}
		}(g)
	}
	wg.Wait()
	if calls, failures := b.Counts(); calls != 8000 || failures != wantFailures {
		t.Errorf("window holds %d calls, %d failures; want 8000, %d", calls, failures, wantFailures)
	}
}
