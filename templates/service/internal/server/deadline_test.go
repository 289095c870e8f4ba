package server

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

func TestLazyDeadlineFiresForWaitersAndCarriesValues(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	ctx, release := withLazyDeadline(parent, time.Now(), 20*time.Millisecond)
	defer release()
	if ctx.Value(ctxKey{}) != "v" {
		t.Fatal("value lost")
	}
	if ctx.Err() != nil {
		t.Fatalf("early error %v", ctx.Err())
	}
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	select {
	case <-child.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("the deadline never fired")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("errors %v %v", ctx.Err(), child.Err())
	}
	if child.Value(ctxKey{}) != "v" {
		t.Fatal("value lost through a child")
	}
}

func TestLazyDeadlineReportsExpiryWithoutWaiters(t *testing.T) {
	ctx, release := withLazyDeadline(context.Background(), time.Now(), time.Millisecond)
	defer release()
	time.Sleep(5 * time.Millisecond)
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("got %v", ctx.Err())
	}
}

func TestReleasedDeadlineIsDoneAndCanceled(t *testing.T) {
	ctx, release := withLazyDeadline(context.Background(), time.Now(), time.Hour)
	release()
	select {
	case <-ctx.Done():
	default:
		t.Fatal("Done is open after release")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("got %v", ctx.Err())
	}
	armed, releaseArmed := withLazyDeadline(context.Background(), time.Now(), time.Hour)
	<-func() <-chan struct{} { go releaseArmed(); return armed.Done() }()
	if !errors.Is(armed.Err(), context.Canceled) {
		t.Fatalf("armed then released: %v", armed.Err())
	}
}

func TestParentCancellationPropagates(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	ctx, release := withLazyDeadline(parent, time.Now(), time.Hour)
	defer release()
	cancel()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("got %v", ctx.Err())
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("parent cancellation did not reach Done")
	}
}
