// Package parallel splits CPU-bound work on a batch (encoding and decoding
// payloads) over the cores, for the emit and listen pipelines.
package parallel

import (
	"runtime"
	"sync/atomic"
)

// MinPerGoroutine is the fewest items worth a goroutine of their own:
// handing fewer over costs more than processing them in place.
const MinPerGoroutine = 32

// maxGoroutines caps the goroutines working on one batch.
const maxGoroutines = 8

// Range calls fn on consecutive sub-ranges [lo, hi) that together cover
// [0, n), from up to GOMAXPROCS goroutines (the caller's included), and
// returns when every call has returned. fn must only touch the items of its
// own range. Small batches run in the caller's goroutine alone.
//
// The ranges are claimed one at a time by whichever goroutine is free, the
// caller's first. A helper that has not been scheduled yet when the caller
// runs out of ranges finds none left and does nothing, so the caller never
// sleeps waiting for a goroutine that is itself waiting for a core (on a
// busy machine the helpers often are); it only waits for a range a helper
// is still working on.
func Range(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), maxGoroutines, n/MinPerGoroutine)
	if workers < 2 {
		fn(0, n)
		return
	}
	// Ranges smaller than a worker's share, so that the goroutines finish
	// close together, and not below MinPerGoroutine.
	size := max((n+4*workers-1)/(4*workers), MinPerGoroutine)
	ranges := int32((n + size - 1) / size)
	var next, finished atomic.Int32
	last := make(chan struct{}, 1)
	// work runs ranges until none is left; it reports whether it finished
	// the last one to finish, which ends the call.
	work := func() bool {
		for {
			r := next.Add(1) - 1
			if r >= ranges {
				return false
			}
			lo := int(r) * size
			fn(lo, min(lo+size, n))
			if finished.Add(1) == ranges {
				return true
			}
		}
	}
	for range workers - 1 {
		go func() {
			if work() {
				last <- struct{}{}
			}
		}()
	}
	if !work() {
		<-last
	}
}
