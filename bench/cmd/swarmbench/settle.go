package main

import (
	"os"
	"strconv"
	"strings"
	"time"
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
	prevIdle, prevTotal, ok := cpuTimes()
	if !ok {
		return 0, true
	}
	for time.Since(start) < limit {
		time.Sleep(window)
		idle, total, ok := cpuTimes()
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

// cpuTimes returns the idle and total clock ticks of all CPUs from /proc/stat.
func cpuTimes() (idle, total uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, false
	}
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i == 3 { // idle; iowait is not: a server's disk flushes would weigh on the next commits
			idle += v
		}
	}
	return idle, total, true
}
