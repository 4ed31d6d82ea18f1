package workload

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// HostCPU returns the host's CPU time since boot, summed over its CPUs,
// from the first line of /proc/stat: busy is the work done (user, nice,
// system, irq, softirq; not idle, iowait or steal, a neighbour's time on a
// shared host), idle the idle field alone, total every field. ok is false
// where /proc/stat cannot be read.
func HostCPU() (busy, idle, total time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, 0, 0, false
	}
	var busyTicks, idleTicks, totalTicks uint64
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		totalTicks += v
		switch i {
		case 0, 1, 2, 5, 6:
			busyTicks += v
		case 3:
			idleTicks += v
		}
	}
	tick := func(n uint64) time.Duration { return time.Duration(n) * time.Second / userHz }
	return tick(busyTicks), tick(idleTicks), tick(totalTicks), true
}

// userHz is the unit of /proc/stat: USER_HZ, 100 on every Linux
// architecture Go supports.
const userHz = 100

// cpuNow returns the CPU time this process has used (every thread, user and
// system) and the work done on the host (HostCPU's busy); ok is false where
// either cannot be read.
func cpuNow() (self, host time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	host, _, _, ok = HostCPU()
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), host, ok
}
