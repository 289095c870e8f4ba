package balancer

import "sync"

// RoundRobin gives every endpoint one turn in order, skipping excluded ones.
type RoundRobin struct {
	mu        sync.Mutex
	endpoints []Endpoint
	next      int
}

// NewRoundRobin returns an empty round-robin balancer.
func NewRoundRobin() *RoundRobin { return &RoundRobin{} }

// Name implements Balancer.
func (*RoundRobin) Name() string { return NameRoundRobin }

// Update implements Balancer. The cursor stays where it was, so a changing set does not send
// a burst to the first endpoint.
func (r *RoundRobin) Update(endpoints []Endpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endpoints = append([]Endpoint(nil), endpoints...)
	if len(r.endpoints) > 0 {
		r.next %= len(r.endpoints)
	} else {
		r.next = 0
	}
}

// Pick implements Balancer.
func (r *RoundRobin) Pick(exclude func(string) bool) (Endpoint, Done, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.endpoints)
	for i := 0; i < n; i++ {
		idx := (r.next + i) % n
		if ep := r.endpoints[idx]; !excluded(exclude, ep.ID) {
			r.next = (idx + 1) % n
			return ep, noDone, true
		}
	}
	return Endpoint{}, nil, false
}
