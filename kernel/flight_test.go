package kernel

import (
	"context"
	"testing"
	"time"
)

// Once the window is full, slots coming back one at a time make one large
// receive, not one receive per slot.
func TestAcquireWaitsForAShareOfTheWindow(t *testing.T) {
	var f flight
	f.init(100)
	f.topUp = time.Minute // so that only the slots coming back end the wait
	ctx := context.Background()
	if n := f.acquire(ctx, 100); n != 100 {
		t.Fatalf("first acquire took %d slots, want 100", n)
	}
	got := make(chan int, 1)
	go func() { got <- f.acquire(ctx, 100) }()
	for range 25 {
		time.Sleep(time.Millisecond) // acks arriving one at a time
		f.done(1)
	}
	select {
	case n := <-got:
		if n < 25 {
			t.Fatalf("acquire took %d slots as acks came back one by one, want 25 (a quarter of the window)", n)
		}
	case <-time.After(time.Second):
		t.Fatal("acquire did not return once a quarter of the window was free")
	}
}

// An application that holds most of the window without acking still gets
// the rest, after a short wait.
func TestAcquireTakesTheRestAfterTopUp(t *testing.T) {
	var f flight
	f.init(100)
	ctx := context.Background()
	f.acquire(ctx, 100)
	f.done(3)
	start := time.Now()
	if n := f.acquire(ctx, 100); n != 3 {
		t.Fatalf("acquire took %d slots, want the 3 free", n)
	}
	if d := time.Since(start); d < topUp {
		t.Fatalf("acquire returned after %v, want a wait of topUp (%v) for more", d, topUp)
	}
}

// A done context ends a wait for slots.
func TestAcquireHonoursContext(t *testing.T) {
	var f flight
	f.init(1)
	f.acquire(context.Background(), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if n := f.acquire(ctx, 1); n != 0 {
		t.Fatalf("acquire on a full window with a done context took %d slots", n)
	}
}
