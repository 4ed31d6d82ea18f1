package main

import (
	"time"

	"github.com/swarm-go/swarm/bench/workload"
)

// settle waits, up to limit, until the host's CPUs have been mostly idle
// for a moment, and returns how long it waited and whether the host
// settled. Brokers leave work behind after a run (a server flushing or
// deleting a queue, a checkpoint, an emulator's garbage collection), and
// the next broker's first runs would pay for it: the contenders are
// interleaved, so each pays a share, but not an equal one. Where /proc/stat
// cannot be read (not Linux), it returns at once.
func settle(limit time.Duration) (waited time.Duration, settled bool) {
	const (
		window   = 500 * time.Millisecond
		wantIdle = 0.80 // of all CPUs, over one window
	)
	start := time.Now()
	_, prevIdle, prevTotal, ok := workload.HostCPU()
	if !ok {
		return 0, true
	}
	for time.Since(start) < limit {
		time.Sleep(window)
		// HostCPU's idle leaves iowait out: a server's disk flushes would
		// weigh on the next commits.
		_, idle, total, ok := workload.HostCPU()
		if !ok {
			return time.Since(start), true
		}
		if total > prevTotal && float64(idle-prevIdle)/float64(total-prevTotal) >= wantIdle {
			return time.Since(start), true
		}
		prevIdle, prevTotal = idle, total
	}
	return time.Since(start), false
}
