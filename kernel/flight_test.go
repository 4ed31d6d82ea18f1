package kernel

import (
	"context"
	"errors"
	"sync"
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

// Acks of a broker that settles in several calls at once go out in
// parallel, each call within MaxBatch, every handle once.
func TestChunkedParRunsCallsAtOnce(t *testing.T) {
	k := &Kernel{caps: Capabilities{MaxBatch: 10}}
	handles := make([]any, 35)
	for i := range handles {
		handles[i] = i
	}
	var (
		mu             sync.Mutex
		seen           = map[any]int{}
		active, most   int
		allIn          = make(chan struct{})
		calls, entered int
	)
	errBoom := errors.New("boom")
	err := k.chunkedPar(handles, 4, func(hs []any) error {
		mu.Lock()
		calls++
		entered++
		active++
		most = max(most, active)
		if len(hs) > 10 {
			t.Errorf("a call got %d handles, over MaxBatch", len(hs))
		}
		for _, h := range hs {
			seen[h]++
		}
		if entered == 4 {
			close(allIn)
		}
		mu.Unlock()
		select {
		case <-allIn: // the first four calls wait for each other
		case <-time.After(time.Second):
		}
		mu.Lock()
		active--
		mu.Unlock()
		if hs[0] == 20 {
			return errBoom
		}
		return nil
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("chunkedPar = %v, want the call's error", err)
	}
	if most != 4 || calls != 4 {
		t.Errorf("%d calls, at most %d at once; want 4 calls, all at once", calls, most)
	}
	for i := range handles {
		if seen[i] != 1 {
			t.Fatalf("handle %d passed %d times", i, seen[i])
		}
	}
}
