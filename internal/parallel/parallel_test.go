package parallel

import (
	"sync/atomic"
	"testing"
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
