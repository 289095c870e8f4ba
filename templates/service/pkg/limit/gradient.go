// Package limit is an adaptive concurrency limit: how many requests an instance serves at once
// is learnt from their latency instead of guessed, after the Gradient2 limiter of Netflix's
// concurrency-limits.
//
// The limit follows the ratio of the no-load latency (the least a request took recently) to
// the latest latency: while a request takes less than Tolerance times the no-load latency the
// limit grows by a small queue allowance; when latency rises (requests queue behind a slowed
// dependency or a saturated CPU) the ratio drops and the limit shrinks with it, at most by half
// per sample, so requests beyond what the instance serves near its no-load latency are refused
// at once (503) instead of queueing. Admitted latency thus stays near Tolerance × no-load.
//
// Gradient2's long-term average drifts towards whatever latency lasts, which lets queueing
// grow without bound under a lasting overload; the no-load latency here is instead the
// minimum over the last two windows of Window samples (Gradient v1's periodic reset), so a
// dependency that is slower for good becomes the new baseline within two windows, while
// queueing never does: at a shrunken limit requests see the dependency's own latency.
package limit

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes a Gradient; zero fields take Gradient2's defaults.
type Config struct {
	// Initial, Min and Max bound the limit (100, 10, 1000): a start high enough that a cold
	// instance does not refuse a burst before it has learnt anything.
	Initial, Min, Max int
	// Tolerance is how much slower than usual requests may get before the limit shrinks (1.5).
	Tolerance float64
	// Smoothing is the share of each new estimate taken into the limit (0.2).
	Smoothing float64
	// Window is the number of samples after which the no-load latency is measured anew
	// (1000).
	Window int
	// OnChange, if set, is called with the new limit when it changes (a metrics gauge).
	OnChange func(limit int)
}

// Gradient is the limiter; safe for concurrent use.
type Gradient struct {
	cfg      Config
	inFlight atomic.Int64
	limit    atomic.Int64 // the integer limit Acquire checks against

	mu        sync.Mutex
	estimate  float64 // the limit before rounding
	minRTT    float64 // least latency in this window (ns), 0 before the first sample
	prevMin   float64 // least latency in the previous window
	samples   int     // samples in this window
	lastLimit int
}

// NewGradient returns a limiter at cfg.Initial.
func NewGradient(cfg Config) *Gradient {
	if cfg.Min <= 0 {
		cfg.Min = 10
	}
	if cfg.Max <= 0 {
		cfg.Max = 1000
	}
	if cfg.Initial <= 0 {
		cfg.Initial = 100
	}
	cfg.Min = min(cfg.Min, cfg.Max)
	cfg.Initial = min(max(cfg.Initial, cfg.Min), cfg.Max)
	if cfg.Tolerance < 1 {
		cfg.Tolerance = 1.5
	}
	if cfg.Smoothing <= 0 || cfg.Smoothing > 1 {
		cfg.Smoothing = 0.2
	}
	if cfg.Window <= 0 {
		cfg.Window = 1000
	}
	g := &Gradient{cfg: cfg, estimate: float64(cfg.Initial), lastLimit: cfg.Initial}
	g.limit.Store(int64(cfg.Initial))
	if cfg.OnChange != nil {
		cfg.OnChange(cfg.Initial)
	}
	return g
}

// Acquire admits a request if fewer than the limit are in flight. An admitted request must be
// followed by exactly one Release.
func (g *Gradient) Acquire() bool {
	if g.inFlight.Add(1) > g.limit.Load() {
		g.inFlight.Add(-1)
		return false
	}
	return true
}

// Release ends an admitted request that took rtt, and updates the limit from it.
func (g *Gradient) Release(rtt time.Duration) {
	inFlight := g.inFlight.Add(-1) + 1 // as it was while this request ran
	if rtt <= 0 {
		return
	}
	short := float64(rtt)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.samples++; g.samples > g.cfg.Window {
		g.prevMin, g.minRTT, g.samples = g.minRTT, 0, 1
	}
	if g.minRTT == 0 || short < g.minRTT {
		g.minRTT = short
	}
	noLoad := g.minRTT
	if g.prevMin > 0 && g.prevMin < noLoad {
		noLoad = g.prevMin
	}
	// A limit is only learnt while it is used: an idle instance keeps its limit.
	if float64(inFlight) < g.estimate/2 {
		return
	}
	gradient := math.Max(0.5, math.Min(1, g.cfg.Tolerance*noLoad/short))
	queue := math.Min(4, math.Sqrt(g.estimate)) // room to grow, and to detect queueing
	next := g.estimate*gradient + queue
	next = g.estimate*(1-g.cfg.Smoothing) + next*g.cfg.Smoothing
	g.estimate = math.Max(float64(g.cfg.Min), math.Min(float64(g.cfg.Max), next))
	if l := int(g.estimate); l != g.lastLimit {
		g.lastLimit = l
		g.limit.Store(int64(l))
		if g.cfg.OnChange != nil {
			g.cfg.OnChange(l)
		}
	}
}

// Limit is the current limit.
func (g *Gradient) Limit() int { return int(g.limit.Load()) }

// InFlight is the number of admitted requests not yet released.
func (g *Gradient) InFlight() int { return int(g.inFlight.Load()) }
