package balancer

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// PeakEWMAConfig tunes the p2c-ewma strategy; zero fields take the defaults.
type PeakEWMAConfig struct {
	// Decay is τ, the time constant of the moving average: a sample lower than the estimate
	// moves it by a share 1 − e^(−Δt/τ), and an idle estimate fades the same way. Default
	// 10 s, Finagle's.
	Decay time.Duration
	// DefaultRTT is the estimate of an endpoint before its first response, when no other
	// endpoint has one to borrow either. Default 10 ms.
	DefaultRTT time.Duration
	// FailurePenalty is the least latency a failed call counts as. Without it an instance
	// that fails in microseconds (connection refused, instant 503) looks like the fastest and
	// draws all the traffic, the "fast failure black hole". Default 1 s.
	FailurePenalty time.Duration
	// ForcePick is how long an endpoint may go unpicked before P2C takes it even though it
	// lost the comparison, so a recovered instance gets the sample that rehabilitates it
	// (go-zero's forcePick). Default 1 s; negative disables it.
	ForcePick time.Duration
	// Now is the clock; nil means time.Now. Tests inject a fake one.
	Now func() time.Time
	// Rand draws the two candidates; nil means a randomly seeded source.
	Rand *rand.Rand
}

// PeakEWMA is the power of two choices on peak-EWMA cost (tower load/peak_ewma.rs, Finagle
// PeakEwma, go-zero p2c): each endpoint's cost is its latency estimate × (pending + 1); a
// sample above the estimate replaces it at once, so a slowing instance is avoided on its
// first slow answer, while lower samples only pull it down gradually. Of two random eligible
// endpoints the cheaper wins, unless the other has not been picked for ForcePick.
type PeakEWMA struct {
	mu    sync.Mutex
	cfg   PeakEWMAConfig
	peers []*ewmaPeer
}

type ewmaPeer struct {
	ep        Endpoint
	estimate  float64 // nanoseconds
	sampled   bool    // a real response has replaced the initial guess
	updatedAt time.Time
	pickedAt  time.Time
	pending   int
}

// NewPeakEWMA returns an empty p2c-ewma balancer.
func NewPeakEWMA(cfg PeakEWMAConfig) *PeakEWMA {
	if cfg.Decay <= 0 {
		cfg.Decay = 10 * time.Second
	}
	if cfg.DefaultRTT <= 0 {
		cfg.DefaultRTT = 10 * time.Millisecond
	}
	if cfg.FailurePenalty <= 0 {
		cfg.FailurePenalty = time.Second
	}
	if cfg.ForcePick == 0 {
		cfg.ForcePick = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &PeakEWMA{cfg: cfg}
}

// Name implements Balancer.
func (*PeakEWMA) Name() string { return NameP2CEWMA }

// Update implements Balancer. A new endpoint starts at the mean estimate of the endpoints
// that have answered (the default when none has), so it is neither flooded as "free" nor
// starved as unknown; its first answer replaces that guess.
func (p *PeakEWMA) Update(endpoints []Endpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	old := make(map[string]*ewmaPeer, len(p.peers))
	var sum float64
	var sampled int
	for _, peer := range p.peers {
		old[peer.ep.ID] = peer
		if peer.sampled {
			sum += p.decayed(peer, now)
			sampled++
		}
	}
	guess := float64(p.cfg.DefaultRTT)
	if sampled > 0 {
		guess = sum / float64(sampled)
	}
	peers := make([]*ewmaPeer, 0, len(endpoints))
	for _, ep := range endpoints {
		peer, ok := old[ep.ID]
		if !ok {
			peer = &ewmaPeer{estimate: guess, updatedAt: now, pickedAt: now}
		}
		peer.ep = ep
		peers = append(peers, peer)
	}
	p.peers = peers
}

// Pick implements Balancer.
func (p *PeakEWMA) Pick(exclude func(string) bool) (Endpoint, Done, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	eligible := make([]*ewmaPeer, 0, len(p.peers))
	for _, peer := range p.peers {
		if !excluded(exclude, peer.ep.ID) {
			eligible = append(eligible, peer)
		}
	}
	a, b := twoDistinct(p.cfg.Rand, len(eligible))
	if a < 0 {
		return Endpoint{}, nil, false
	}
	now := p.cfg.Now()
	chosen := eligible[a]
	if b >= 0 {
		other := eligible[b]
		if p.cost(other, now) < p.cost(chosen, now) {
			chosen, other = other, chosen
		}
		if p.cfg.ForcePick > 0 && now.Sub(other.pickedAt) > p.cfg.ForcePick {
			chosen = other
		}
	}
	chosen.pending++
	chosen.pickedAt = now
	start := now
	var once sync.Once
	return chosen.ep, func(_ time.Duration, err error) {
		once.Do(func() { p.observe(chosen, start, err) })
	}, true
}

// observe folds one completed call into the peer's estimate. The latency is measured on the
// balancer's own clock, from Pick to Done, so tests can drive it with a fake clock; the rtt
// the caller passes is informational.
func (p *PeakEWMA) observe(peer *ewmaPeer, start time.Time, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	peer.pending--
	if errors.Is(err, ErrNotSent) {
		return
	}
	sample := float64(now.Sub(start))
	if err != nil {
		sample = math.Max(sample, float64(p.cfg.FailurePenalty))
	}
	if !peer.sampled {
		// The estimate so far was a guess; the first real answer replaces it.
		peer.estimate, peer.updatedAt, peer.sampled = sample, now, true
		return
	}
	p.fold(peer, sample, now)
}

// fold is Finagle's PeakEwma.observe: a sample above the estimate replaces it at once (the
// peak); a lower one moves it by a share 1 − e^(−Δt/τ) of the difference, Δt being the time
// since the last fold.
func (p *PeakEWMA) fold(peer *ewmaPeer, sample float64, now time.Time) {
	if sample > peer.estimate {
		peer.estimate = sample
	} else if dt := now.Sub(peer.updatedAt); dt > 0 {
		w := math.Exp(-float64(dt) / float64(p.cfg.Decay))
		peer.estimate = peer.estimate*w + sample*(1-w)
	}
	if now.After(peer.updatedAt) {
		peer.updatedAt = now
	}
}

// decayed folds a zero sample first, as tower and Finagle do on every read, so an instance
// that was slow once fades back to attractive while nobody sends it anything.
func (p *PeakEWMA) decayed(peer *ewmaPeer, now time.Time) float64 {
	p.fold(peer, 0, now)
	return peer.estimate
}

// cost is tower's load: estimate × (pending + 1), with a floor of 1 ns so that a zero
// estimate still ranks by pending requests.
func (p *PeakEWMA) cost(peer *ewmaPeer, now time.Time) float64 {
	return math.Max(p.decayed(peer, now), 1) * float64(peer.pending+1)
}
