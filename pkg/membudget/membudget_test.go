package membudget

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAcquire(t *testing.T) {
	b := New(10 * Small)
	ctx := context.Background()

	small, err := b.Acquire(ctx, Small-1)
	if err != nil {
		t.Fatal(err)
	}
	small()
	if _, err := b.Acquire(ctx, 11*Small); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the budget: %v, want ErrTooLarge", err)
	}

	r1, err := b.Acquire(ctx, 6*Small)
	if err != nil {
		t.Fatal(err)
	}
	// 6 of 10 held: a request for 6 waits, and a later one for 2 (which
	// would fit) waits behind it (arrival order).
	got := make(chan string, 2)
	var r2, r3 func()
	go func() {
		r, err := b.Acquire(ctx, 6*Small)
		if err == nil {
			r2 = r
			got <- "six"
		}
	}()
	waitQueued(t, b, 1)
	go func() {
		r, err := b.Acquire(ctx, 2*Small)
		if err == nil {
			r3 = r
			got <- "two"
		}
	}()
	waitQueued(t, b, 2)
	select {
	case g := <-got:
		t.Fatalf("%s granted while 6 of 10 are held by an earlier request", g)
	default:
	}
	r1()
	r1() // a second call is harmless
	// Both fit now (6+2 of 10) and are granted together.
	if a, b := <-got, <-got; a == b {
		t.Fatalf("granted %s twice", a)
	}
	r2()
	r3()
	if b.used != 0 {
		t.Fatalf("used %d after every release", b.used)
	}
}

func TestAcquireCancelled(t *testing.T) {
	b := New(4 * Small)
	hold, _ := b.Acquire(context.Background(), 3*Small)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.Acquire(ctx, 2*Small)
		done <- err
	}()
	waitQueued(t, b, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	// The cancelled waiter left the queue: a request that fits now goes.
	r, err := b.Acquire(context.Background(), Small)
	if err != nil {
		t.Fatal(err)
	}
	r()
	hold()
	if b.used != 0 || len(b.waiters) != 0 {
		t.Fatalf("used %d, %d waiters", b.used, len(b.waiters))
	}
}

// waitQueued waits until n requests wait in b's queue.
func waitQueued(t *testing.T, b *Budget, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		q := len(b.waiters)
		b.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}
