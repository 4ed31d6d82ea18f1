// Package parallel splits CPU-bound work on a batch (encoding and decoding
// payloads) over the cores, for the emit and listen pipelines.
package parallel

import (
	"runtime"
	"sync"
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
func Range(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), maxGoroutines, n/MinPerGoroutine)
	if workers < 2 {
		fn(0, n)
		return
	}
	size := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := size; lo < n; lo += size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, min(lo+size, n))
		}()
	}
	fn(0, size)
	wg.Wait()
}
