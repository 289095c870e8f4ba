package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineContext carries a request's deadline but arms a timer only when something waits on
// Done. Most requests finish without anyone waiting, and a timer per request is a measurable
// share of a small handler's cost. On the first Done call it becomes a context.WithDeadline,
// so callers that wait (downstream calls, injected latency) get exactly that behaviour.
type deadlineContext struct {
	context.Context
	deadline time.Time

	once     sync.Once
	armed    atomic.Pointer[armedDeadline]
	released atomic.Bool

	// values, when set, answers Value lookups before the parent does: the request's identity
	// kept in the same per-request state (telemetry.RequestInfo).
	values interface{ Answer(key any) (any, bool) }
}

type armedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// closedDone is what Done returns once the request is over and nothing was ever armed.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// withLazyDeadline returns parent with a deadline d after now (the request's start, so the
// clock is read once per request), and the function releasing it.
func withLazyDeadline(parent context.Context, now time.Time, d time.Duration) (*deadlineContext, func()) {
	c := &deadlineContext{}
	c.init(parent, now, d)
	return c, c.release
}

// init sets up a zero deadlineContext in place (the middleware keeps it in its per-request
// state, to save an allocation).
func (c *deadlineContext) init(parent context.Context, now time.Time, d time.Duration) {
	c.Context = parent
	c.deadline = now.Add(d)
	if pd, ok := parent.Deadline(); ok && pd.Before(c.deadline) {
		c.deadline = pd
	}
}

func (c *deadlineContext) arm() *armedDeadline {
	c.once.Do(func() {
		if c.released.Load() {
			return
		}
		ctx, cancel := context.WithDeadline(c.Context, c.deadline)
		c.armed.Store(&armedDeadline{ctx: ctx, cancel: cancel})
	})
	return c.armed.Load()
}

func (c *deadlineContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineContext) Done() <-chan struct{} {
	if a := c.arm(); a != nil {
		return a.ctx.Done()
	}
	return closedDone
}

func (c *deadlineContext) Err() error {
	if a := c.armed.Load(); a != nil {
		return a.ctx.Err()
	}
	if c.released.Load() {
		return context.Canceled
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value answers from the armed context once there is one, so contexts derived from this one
// find its cancellation directly instead of watching it from a goroutine.
func (c *deadlineContext) Value(key any) any {
	if c.values != nil {
		if v, ok := c.values.Answer(key); ok {
			return v
		}
	}
	if a := c.armed.Load(); a != nil {
		return a.ctx.Value(key)
	}
	return c.Context.Value(key)
}

func (c *deadlineContext) release() {
	c.released.Store(true)
	c.once.Do(func() {})
	if a := c.armed.Load(); a != nil {
		a.cancel()
	}
}
