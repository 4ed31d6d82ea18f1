package parallel

import (
	"sync/atomic"
	"testing"
	"time"
)

// Every index is visited exactly once, for small and large batches.
func TestRangeCoversOnce(t *testing.T) {
	for _, n := range []int{0, 1, 31, 64, 100, 1000, 1001} {
		seen := make([]atomic.Int32, n)
		Range(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
		})
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("n=%d: index %d visited %d times", n, i, c)
			}
		}
	}
}

// Range returns only once every call of fn has returned, also when a
// helper's range takes longer than all of the caller's.
func TestRangeWaitsForHelpers(t *testing.T) {
	for range 20 {
		var running, done atomic.Int32
		Range(256, func(lo, hi int) {
			running.Add(1)
			if lo > 0 {
				time.Sleep(time.Millisecond)
			}
			done.Add(int32(hi - lo))
			running.Add(-1)
		})
		if r, d := running.Load(), done.Load(); r != 0 || d != 256 {
			t.Fatalf("Range returned with %d calls running and %d of 256 items done", r, d)
		}
	}
}
