package client

import (
	"math"
	"sync"
	"time"
)

// RetryBudget caps retries to a share of recent requests plus a small floor, like tower's
// TpsBudget and Finagle's RetryBudget: in any Window, retries may number at most
// Ratio × requests + MinPerSecond × Window seconds. A fixed "retry 3 times" multiplies load
// on a struggling downstream by four exactly when it can least take it; a budget keeps the
// extra load to Ratio while still letting a quiet client retry.
type RetryBudget struct {
	// Ratio is the retries allowed per request (0.2 = 20 %).
	Ratio float64
	// MinPerSecond is the floor of retries per second whatever the traffic.
	MinPerSecond float64
	// Window is how far back requests and retries count.
	Window time.Duration
}

// DefaultRetryBudget is tower's: 20 % of requests plus 10 retries a second, over 10 s.
func DefaultRetryBudget() RetryBudget {
	return RetryBudget{Ratio: 0.2, MinPerSecond: 10, Window: 10 * time.Second}
}

// budgetBuckets slices the window; the budget slides one slice at a time.
const budgetBuckets = 10

// budgetUnit is the fixed-point scale: one retry costs 1000, one request earns
// Ratio × 1000, so the arithmetic is exact for ratios with three decimals.
const budgetUnit = 1000

type retryBudget struct {
	mu      sync.Mutex
	now     func() time.Time
	width   time.Duration
	reserve int64 // MinPerSecond × Window, in units
	deposit int64 // what one request earns, in units
	slots   [budgetBuckets]budgetSlot
}

type budgetSlot struct {
	epoch   int64
	balance int64 // deposits minus withdrawals made in this slice
}

func newRetryBudget(b RetryBudget, now func() time.Time) *retryBudget {
	width := b.Window / budgetBuckets
	if width <= 0 {
		width = time.Millisecond
	}
	return &retryBudget{
		now:     now,
		width:   width,
		reserve: int64(math.Round(b.MinPerSecond * b.Window.Seconds() * budgetUnit)),
		deposit: int64(math.Round(b.Ratio * budgetUnit)),
	}
}

func (r *retryBudget) slot(now time.Time) *budgetSlot {
	e := now.UnixNano() / int64(r.width)
	s := &r.slots[int(e%budgetBuckets)]
	if s.epoch != e {
		*s = budgetSlot{epoch: e}
	}
	return s
}

// recordRequest earns the budget for one first attempt.
func (r *retryBudget) recordRequest() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.slot(r.now()).balance += r.deposit
}

// withdraw spends one retry if the window's balance allows it.
func (r *retryBudget) withdraw() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	e := now.UnixNano() / int64(r.width)
	balance := r.reserve
	for _, s := range r.slots {
		if s.epoch > e-budgetBuckets && s.epoch <= e {
			balance += s.balance
		}
	}
	if balance < budgetUnit {
		return false
	}
	r.slot(now).balance -= budgetUnit
	return true
}
