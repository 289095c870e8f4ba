// Package balancer chooses which instance of a downstream service takes the next call.
//
// Four strategies, each named by its BALANCER value:
//
//   - round-robin: equal turns, in order.
//   - weighted-round-robin: nginx's smooth weighted round robin, so a heavy instance's turns
//     are spread out instead of bunched (weights 5,1,1 give a a b a c a a).
//   - least-connections: Envoy's least-request, the power of two random choices on active
//     requests, scaled by weight.
//   - p2c-ewma: the power of two choices on peak-EWMA latency × (pending + 1), as in tower,
//     Finagle and go-zero.
//
// A Balancer is told the current set of endpoints with Update and hands out one per Pick,
// together with a Done callback the caller runs when the call completes; strategies that
// watch load (least-connections, p2c-ewma) learn from it. Every Balancer is safe for
// concurrent use.
package balancer

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Endpoint is one instance a call can go to.
type Endpoint struct {
	// ID names the instance uniquely within the set; state (turns, load) follows the ID
	// across Updates.
	ID string
	// Addr is where to send the call: host:port.
	Addr string
	// Weight is the instance's share for weighted strategies; below 1 counts as 1.
	Weight int
}

// Done reports the end of a picked call: how long it took and whether it failed. It must be
// called exactly once per successful Pick; calling it after the endpoint left the set is fine.
type Done func(rtt time.Duration, err error)

// ErrNotSent tells Done that the picked call never reached the endpoint (its breaker refused
// at the last moment, or the caller gave up first): the pick is released and no latency is
// learned from it.
var ErrNotSent = errors.New("call not sent")

// Balancer picks endpoints for calls.
type Balancer interface {
	// Pick chooses among the endpoints for which exclude(id) is false (a nil exclude
	// excludes nothing). ok is false when no endpoint is eligible.
	Pick(exclude func(id string) bool) (ep Endpoint, done Done, ok bool)
	// Update replaces the set of endpoints. Endpoints whose ID is kept keep their state.
	Update(endpoints []Endpoint)
	// Name is the strategy's BALANCER value.
	Name() string
}

// The BALANCER values New understands.
const (
	NameRoundRobin         = "round-robin"
	NameWeightedRoundRobin = "weighted-round-robin"
	NameLeastConnections   = "least-connections"
	NameP2CEWMA            = "p2c-ewma"
)

// Names lists every strategy name New accepts, in a stable order.
func Names() []string {
	return []string{NameRoundRobin, NameWeightedRoundRobin, NameLeastConnections, NameP2CEWMA}
}

// New builds the named strategy with its defaults; the empty name means round-robin.
func New(name string) (Balancer, error) {
	switch name {
	case "", NameRoundRobin:
		return NewRoundRobin(), nil
	case NameWeightedRoundRobin:
		return NewSmoothWeightedRoundRobin(), nil
	case NameLeastConnections:
		return NewLeastConnections(nil), nil
	case NameP2CEWMA:
		return NewPeakEWMA(PeakEWMAConfig{}), nil
	default:
		return nil, fmt.Errorf("unknown balancer %q: use one of %s", name, strings.Join(Names(), ", "))
	}
}

// weightOf treats a missing or nonsensical weight as the neutral 1.
func weightOf(ep Endpoint) int {
	if ep.Weight < 1 {
		return 1
	}
	return ep.Weight
}

// noDone is handed out by strategies that learn nothing from completions.
func noDone(time.Duration, error) {}

func excluded(exclude func(string) bool, id string) bool {
	return exclude != nil && exclude(id)
}
