package balancer

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

func endpoints(ids ...string) []Endpoint {
	eps := make([]Endpoint, len(ids))
	for i, id := range ids {
		eps[i] = Endpoint{ID: id, Addr: "127.0.0.1:" + id, Weight: 1}
	}
	return eps
}

func weighted(weights map[string]int, order ...string) []Endpoint {
	eps := make([]Endpoint, len(order))
	for i, id := range order {
		eps[i] = Endpoint{ID: id, Addr: "127.0.0.1:" + id, Weight: weights[id]}
	}
	return eps
}

// pickN picks n times, completing each call at once, and counts the picks per ID.
func pickN(t *testing.T, b Balancer, n int, exclude func(string) bool) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		ep, done, ok := b.Pick(exclude)
		if !ok {
			t.Fatalf("pick %d: no endpoint", i)
		}
		done(time.Millisecond, nil)
		counts[ep.ID]++
	}
	return counts
}

func sequence(t *testing.T, b Balancer, n int) string {
	t.Helper()
	var seq []string
	for i := 0; i < n; i++ {
		ep, done, ok := b.Pick(nil)
		if !ok {
			t.Fatalf("pick %d: no endpoint", i)
		}
		done(0, nil)
		seq = append(seq, ep.ID)
	}
	return strings.Join(seq, " ")
}

func TestNewBuildsEveryNamedStrategyAndRejectsUnknownNames(t *testing.T) {
	for _, name := range Names() {
		b, err := New(name)
		if err != nil {
			t.Fatalf("New(%q): %v", name, err)
		}
		if b.Name() != name {
			t.Errorf("New(%q).Name() = %q", name, b.Name())
		}
	}
	if b, err := New(""); err != nil || b.Name() != NameRoundRobin {
		t.Errorf("New(\"\") = %v, %v; want round-robin", b, err)
	}
	_, err := New("random")
	if err == nil || !strings.Contains(err.Error(), "p2c-ewma") {
		t.Errorf("New(\"random\") error = %v; want one listing the valid names", err)
	}
}

func TestEveryStrategyReportsNoEndpointWhenAllAreExcludedOrNoneKnown(t *testing.T) {
	for _, name := range Names() {
		b, _ := New(name)
		if _, _, ok := b.Pick(nil); ok {
			t.Errorf("%s: picked from an empty set", name)
		}
		b.Update(endpoints("a", "b"))
		if _, _, ok := b.Pick(func(string) bool { return true }); ok {
			t.Errorf("%s: picked although every endpoint was excluded", name)
		}
		counts := pickN(t, b, 50, func(id string) bool { return id == "a" })
		if counts["a"] != 0 || counts["b"] != 50 {
			t.Errorf("%s: excluding a gave %v; want all 50 on b", name, counts)
		}
	}
}

func TestRoundRobinGivesEveryEndpointTheSameShareInOrder(t *testing.T) {
	b := NewRoundRobin()
	b.Update(endpoints("a", "b", "c"))
	if got := sequence(t, b, 6); got != "a b c a b c" {
		t.Errorf("sequence = %q; want a b c a b c", got)
	}
	counts := pickN(t, b, 300, nil)
	for _, id := range []string{"a", "b", "c"} {
		if counts[id] != 100 {
			t.Errorf("round robin gave %v; want exactly 100 each", counts)
		}
	}
}

func TestSmoothWeightedRoundRobinFollowsNginxSequenceFor511(t *testing.T) {
	b := NewSmoothWeightedRoundRobin()
	b.Update(weighted(map[string]int{"a": 5, "b": 1, "c": 1}, "a", "b", "c"))
	// nginx's documented smooth sequence for weights 5, 1, 1, twice over.
	want := "a a b a c a a a a b a c a a"
	if got := sequence(t, b, 14); got != want {
		t.Errorf("sequence = %q; want %q", got, want)
	}
}

func TestSmoothWeightedRoundRobinSharesAreExactlyProportionalToWeights(t *testing.T) {
	weights := map[string]int{"a": 4, "b": 3, "c": 2, "d": 1}
	b := NewSmoothWeightedRoundRobin()
	b.Update(weighted(weights, "a", "b", "c", "d"))
	counts := pickN(t, b, 1000, nil) // 100 full cycles of total weight 10
	for id, w := range weights {
		if counts[id] != 100*w {
			t.Errorf("shares %v; want %s = %d", counts, id, 100*w)
		}
	}
	// A missing weight counts as 1, so two unweighted endpoints alternate.
	b.Update([]Endpoint{{ID: "x"}, {ID: "y"}})
	if got := sequence(t, b, 4); got != "x y x y" {
		t.Errorf("unweighted sequence = %q; want x y x y", got)
	}
}

func TestLeastConnectionsPrefersTheIdleEndpoint(t *testing.T) {
	b := NewLeastConnections(rand.New(rand.NewPCG(1, 2)))
	b.Update(endpoints("busy", "idle1", "idle2"))
	var busyDone []Done
	for i := 0; i < 10; i++ { // ten calls stuck on "busy"
		ep, done, _ := b.Pick(func(id string) bool { return id != "busy" })
		if ep.ID != "busy" {
			t.Fatalf("forced pick went to %s", ep.ID)
		}
		busyDone = append(busyDone, done)
	}
	counts := pickN(t, b, 200, nil)
	if counts["busy"] != 0 {
		t.Errorf("busy endpoint with 10 active calls got %d of 200 picks; want 0", counts["busy"])
	}
	if counts["idle1"] < 60 || counts["idle2"] < 60 {
		t.Errorf("idle endpoints should share the load: %v", counts)
	}
	for _, done := range busyDone {
		done(0, nil)
		done(0, nil) // a second call of the same Done must not count twice
	}
	counts = pickN(t, b, 300, nil)
	if counts["busy"] < 60 {
		t.Errorf("after its calls finished, busy got %d of 300 picks; want a fair share (>= 60)", counts["busy"])
	}
}

func TestLeastConnectionsWeighsActiveCallsByWeight(t *testing.T) {
	b := NewLeastConnections(rand.New(rand.NewPCG(3, 4)))
	b.Update(weighted(map[string]int{"big": 3, "small": 1}, "big", "small"))
	// Keep every call open: active counts then track the weights, 3 : 1.
	counts := map[string]int{}
	for i := 0; i < 400; i++ {
		ep, _, _ := b.Pick(nil)
		counts[ep.ID]++
	}
	if counts["big"] < 290 || counts["big"] > 310 {
		t.Errorf("open calls %v; want big ≈ 300 (3:1 by weight, ±10)", counts)
	}
}

// fakeClock is a hand-driven clock for the latency simulation.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// simulate sends arrivals every interval to b for the given duration, each call taking the
// latency latencyOf returns for the picked endpoint on the fake clock, with overlapping
// calls, and returns the picks per endpoint.
func simulate(t *testing.T, b Balancer, clock *fakeClock, interval, duration time.Duration, latencyOf func(id string) time.Duration) map[string]int {
	t.Helper()
	type inflight struct {
		end  time.Time
		done Done
		err  error
	}
	var calls []inflight
	counts := map[string]int{}
	end := clock.now.Add(duration)
	for clock.now.Before(end) {
		// Complete calls due by now, earliest first.
		for {
			idx := -1
			for i, c := range calls {
				if !c.end.After(clock.now) && (idx < 0 || c.end.Before(calls[idx].end)) {
					idx = i
				}
			}
			if idx < 0 {
				break
			}
			c := calls[idx]
			saved := clock.now
			clock.now = c.end
			c.done(0, c.err)
			clock.now = saved
			calls = append(calls[:idx], calls[idx+1:]...)
		}
		ep, done, ok := b.Pick(nil)
		if !ok {
			t.Fatal("no endpoint")
		}
		counts[ep.ID]++
		calls = append(calls, inflight{end: clock.now.Add(latencyOf(ep.ID)), done: done})
		clock.now = clock.now.Add(interval)
	}
	return counts
}

func TestPeakEWMAShiftsTrafficAwayFromASlowEndpointAndBackWhenItRecovers(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	b := NewPeakEWMA(PeakEWMAConfig{Now: clock.Now, Rand: rand.New(rand.NewPCG(7, 8))})
	b.Update(endpoints("a", "b", "slow"))
	slowLatency := 200 * time.Millisecond
	latency := func(id string) time.Duration {
		if id == "slow" {
			return slowLatency
		}
		return 10 * time.Millisecond
	}
	// 100 requests a second for 30 simulated seconds. Round robin would give slow a third
	// (1000); peak EWMA must keep it under 5 % (150), leaving it only go-zero's forced
	// picks (about one a second) and the occasional draw of the two fast ones both busy.
	counts := simulate(t, b, clock, 10*time.Millisecond, 30*time.Second, latency)
	t.Logf("slow at 200 ms: %v", counts)
	if counts["slow"] > 150 {
		t.Errorf("slow endpoint got %d of 3000 calls; want <= 150 (5 %%)", counts["slow"])
	}
	if counts["a"] < 1200 || counts["b"] < 1200 {
		t.Errorf("fast endpoints should share the rest: %v", counts)
	}
	// Once it answers as fast as the others, forced picks feed it fresh samples and its
	// estimate decays (τ = 10 s): over the next 60 s it must win back a real share (>= 15 %).
	slowLatency = 10 * time.Millisecond
	counts = simulate(t, b, clock, 10*time.Millisecond, 60*time.Second, latency)
	t.Logf("slow recovered: %v", counts)
	if counts["slow"] < 900 {
		t.Errorf("recovered endpoint got %d of 6000 calls; want >= 900 (15 %%)", counts["slow"])
	}
}

func TestPeakEWMACountsAFastFailureAsSlow(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	b := NewPeakEWMA(PeakEWMAConfig{Now: clock.Now, Rand: rand.New(rand.NewPCG(9, 10))})
	b.Update(endpoints("ok", "broken"))
	errRefused := errors.New("connection refused")
	var counts = map[string]int{}
	for i := 0; i < 1000; i++ {
		ep, done, _ := b.Pick(nil)
		counts[ep.ID]++
		if ep.ID == "broken" {
			clock.now = clock.now.Add(100 * time.Microsecond) // fails almost at once
			done(0, errRefused)
		} else {
			clock.now = clock.now.Add(5 * time.Millisecond)
			done(0, nil)
		}
	}
	if counts["broken"] > 50 {
		t.Errorf("an endpoint failing in 100 µs drew %d of 1000 calls; want <= 50", counts["broken"])
	}
}

func TestBalancersAreSafeForConcurrentPicksAndUpdates(t *testing.T) {
	for _, name := range Names() {
		b, _ := New(name)
		b.Update(endpoints("a", "b", "c"))
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 500; i++ {
					if g == 0 && i%50 == 0 {
						if i%100 == 0 {
							b.Update(endpoints("a", "b"))
						} else {
							b.Update(endpoints("a", "b", "c", "d"))
						}
					}
					if _, done, ok := b.Pick(nil); ok {
						done(time.Millisecond, nil)
					}
				}
			}(g)
		}
		wg.Wait()
	}
}

func TestPeakEWMALearnsNothingFromACallThatWasNotSent(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	b := NewPeakEWMA(PeakEWMAConfig{Now: clock.Now, Rand: rand.New(rand.NewPCG(1, 1))})
	b.Update(endpoints("a"))
	_, done, _ := b.Pick(nil)
	clock.now = clock.now.Add(50 * time.Millisecond)
	done(0, nil)
	_, done, _ = b.Pick(nil)
	done(0, ErrNotSent) // a zero-latency non-call must not pull the estimate down
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := b.peers[0]; p.estimate != float64(50*time.Millisecond) || p.pending != 0 {
		t.Errorf("estimate %v, pending %d; want 50ms, 0", time.Duration(p.estimate), p.pending)
	}
}
