package balancer

import "sync"

// SmoothWeightedRoundRobin is nginx's smooth weighted round robin
// (ngx_http_upstream_round_robin.c, ngx_http_upstream_get_peer): on every pick each eligible
// peer's current weight grows by its weight, the largest current weight wins (the first one
// on a tie), and the winner's current weight drops by the sum of the eligible weights. Over
// any run of sum(weights) picks every peer gets exactly its weight's share, interleaved.
//
// nginx also lowers an "effective weight" after failures; hale leaves that to the circuit
// breakers, which exclude a failing instance outright.
type SmoothWeightedRoundRobin struct {
	mu    sync.Mutex
	peers []*weightedPeer
}

type weightedPeer struct {
	ep      Endpoint
	weight  int
	current int
}

// NewSmoothWeightedRoundRobin returns an empty smooth weighted round-robin balancer.
func NewSmoothWeightedRoundRobin() *SmoothWeightedRoundRobin {
	return &SmoothWeightedRoundRobin{}
}

// Name implements Balancer.
func (*SmoothWeightedRoundRobin) Name() string { return NameWeightedRoundRobin }

// Update implements Balancer; a kept peer keeps its current weight so the sequence does not
// restart on every discovery refresh.
func (s *SmoothWeightedRoundRobin) Update(endpoints []Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := make(map[string]*weightedPeer, len(s.peers))
	for _, p := range s.peers {
		old[p.ep.ID] = p
	}
	peers := make([]*weightedPeer, 0, len(endpoints))
	for _, ep := range endpoints {
		p := &weightedPeer{}
		if prev, ok := old[ep.ID]; ok {
			p.current = prev.current
		}
		p.ep, p.weight = ep, weightOf(ep)
		peers = append(peers, p)
	}
	s.peers = peers
}

// Pick implements Balancer.
func (s *SmoothWeightedRoundRobin) Pick(exclude func(string) bool) (Endpoint, Done, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *weightedPeer
	total := 0
	for _, p := range s.peers {
		if excluded(exclude, p.ep.ID) {
			continue
		}
		p.current += p.weight
		total += p.weight
		if best == nil || p.current > best.current {
			best = p
		}
	}
	if best == nil {
		return Endpoint{}, nil, false
	}
	best.current -= total
	return best.ep, noDone, true
}
