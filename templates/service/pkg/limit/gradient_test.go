package limit

import (
	"testing"
	"time"
)

// dependency is a slowed-down backend modelled as processor sharing: capacity requests are
// served in service time each; more at once share it, so each takes proportionally longer.
type dependency struct {
	capacity int
	service  time.Duration
}

func (d dependency) latency(concurrent int) time.Duration {
	return time.Duration(float64(d.service) * max(1, float64(concurrent)/float64(d.capacity)))
}

// round offers `offered` concurrent requests; the admitted ones run against dep together and
// are released with the latency they saw. It returns how many were admitted and that latency.
func round(g *Gradient, dep dependency, offered int) (admitted int, rtt time.Duration) {
	for range offered {
		if g.Acquire() {
			admitted++
		}
	}
	rtt = dep.latency(admitted)
	for range admitted {
		g.Release(rtt)
	}
	return admitted, rtt
}

// Under more offered load than a slowed dependency can take, the limit falls until admitted
// requests see a latency near the dependency's own (not the queueing of all offered ones), the
// excess is refused, and once the dependency recovers the limit grows back.
func TestLimitBoundsAdmittedLatencyUnderASlowedDependencyAndRecovers(t *testing.T) {
	var changes []int
	g := NewGradient(Config{Initial: 50, Min: 2, Max: 500, OnChange: func(l int) { changes = append(changes, l) }})
	healthy := dependency{capacity: 200, service: time.Millisecond}
	slowed := dependency{capacity: 10, service: 20 * time.Millisecond}
	const offered = 300

	for range 300 {
		round(g, healthy, offered)
	}
	before := g.Limit()
	if before < 150 {
		t.Fatalf("with a healthy dependency the limit reached only %d", before)
	}

	var admitted int
	var rtt time.Duration
	for range 300 {
		admitted, rtt = round(g, slowed, offered)
	}
	// Unlimited, all 300 would each take 300/10 × 20ms = 600ms.
	if unlimited := slowed.latency(offered); rtt > 3*slowed.service {
		t.Errorf("admitted requests take %s under the slowdown (unlimited: %s): latency not bounded", rtt, unlimited)
	}
	if admitted >= offered || g.Limit() >= before/3 {
		t.Errorf("under the slowdown %d of %d admitted, limit %d (was %d): excess not refused", admitted, offered, g.Limit(), before)
	}

	slowLimit := g.Limit()
	for range 600 {
		round(g, healthy, offered)
	}
	t.Logf("limit %d healthy, %d slowed (%d of %d admitted, %s each), %d recovered", before, slowLimit, admitted, offered, rtt, g.Limit())
	if g.Limit() < before*3/4 {
		t.Errorf("after recovery the limit is %d, was %d before the slowdown", g.Limit(), before)
	}
	if g.InFlight() != 0 {
		t.Errorf("%d still in flight", g.InFlight())
	}
	if len(changes) == 0 || changes[len(changes)-1] != g.Limit() {
		t.Errorf("OnChange saw %v, limit is %d", changes[max(0, len(changes)-3):], g.Limit())
	}
}

func TestAnIdleInstanceKeepsItsLimit(t *testing.T) {
	g := NewGradient(Config{Initial: 40})
	for range 1000 {
		if !g.Acquire() {
			t.Fatal("refused with one in flight")
		}
		g.Release(time.Duration(1+time.Now().UnixNano()%5) * time.Millisecond)
	}
	if g.Limit() != 40 {
		t.Errorf("a limit never used changed to %d", g.Limit())
	}
}

// A ceiling below the default floor (MAX_IN_FLIGHT=4) is never exceeded.
func TestTheLimitNeverExceedsItsCeiling(t *testing.T) {
	g := NewGradient(Config{Max: 4})
	for range 2000 {
		round(g, dependency{capacity: 100, service: time.Millisecond}, 50)
		if g.Limit() > 4 {
			t.Fatalf("limit %d over the ceiling 4", g.Limit())
		}
	}
}
