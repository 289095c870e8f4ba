package balancer

import (
	"math/rand/v2"
	"sync"
	"time"
)

// LeastConnections is Envoy's least-request balancer: draw two distinct eligible endpoints at
// random and take the one with fewer active requests per unit of weight, that is the lower
// (active+1)/weight (Envoy's weight/(active+1)^bias with the default bias 1). Two random
// choices avoid the herd a strict global minimum causes when many clients see the same
// counts, while still steering clear of a busy instance.
type LeastConnections struct {
	mu    sync.Mutex
	rng   *rand.Rand
	peers []*connPeer
}

type connPeer struct {
	ep     Endpoint
	weight int
	active int
}

// NewLeastConnections returns an empty least-connections balancer drawing from rng; nil
// means a randomly seeded source. Tests pass a seeded one for repeatable draws.
func NewLeastConnections(rng *rand.Rand) *LeastConnections {
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &LeastConnections{rng: rng}
}

// Name implements Balancer.
func (*LeastConnections) Name() string { return NameLeastConnections }

// Update implements Balancer; kept endpoints keep their active count, so calls in flight
// while discovery refreshes are still counted.
func (l *LeastConnections) Update(endpoints []Endpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := make(map[string]*connPeer, len(l.peers))
	for _, p := range l.peers {
		old[p.ep.ID] = p
	}
	peers := make([]*connPeer, 0, len(endpoints))
	for _, ep := range endpoints {
		p, ok := old[ep.ID]
		if !ok {
			p = &connPeer{}
		}
		p.ep, p.weight = ep, weightOf(ep)
		peers = append(peers, p)
	}
	l.peers = peers
}

// Pick implements Balancer.
func (l *LeastConnections) Pick(exclude func(string) bool) (Endpoint, Done, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	eligible := make([]*connPeer, 0, len(l.peers))
	for _, p := range l.peers {
		if !excluded(exclude, p.ep.ID) {
			eligible = append(eligible, p)
		}
	}
	a, b := twoDistinct(l.rng, len(eligible))
	if a < 0 {
		return Endpoint{}, nil, false
	}
	chosen := eligible[a]
	if b >= 0 {
		other := eligible[b]
		// Compare (active+1)/weight without division: x/wx < y/wy ⇔ x·wy < y·wx.
		if (other.active+1)*chosen.weight < (chosen.active+1)*other.weight {
			chosen = other
		}
	}
	chosen.active++
	var once sync.Once
	return chosen.ep, func(time.Duration, error) {
		once.Do(func() {
			l.mu.Lock()
			chosen.active--
			l.mu.Unlock()
		})
	}, true
}

// twoDistinct draws two different indices below n; b is -1 when n is 1, both are -1 when n
// is 0.
func twoDistinct(rng *rand.Rand, n int) (a, b int) {
	switch n {
	case 0:
		return -1, -1
	case 1:
		return 0, -1
	}
	a = rng.IntN(n)
	b = rng.IntN(n - 1)
	if b >= a {
		b++
	}
	return a, b
}
