package workload

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuNow returns the CPU time this process has used (every thread, user and
// system), and the CPU time every process of the host has used, from
// getrusage and /proc/stat; ok is false where either cannot be read.
func cpuNow() (self, host time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, 0, false
	}
	// user, nice, system, then idle and iowait (not work), then irq and
	// softirq; steal (a neighbour's time on a shared host) is left out.
	var ticks uint64
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			return 0, 0, false
		}
		ticks += v
	}
	return self, time.Duration(ticks) * time.Second / userHz, true
}

// userHz is the unit of /proc/stat: USER_HZ, 100 on every Linux
// architecture Go supports.
const userHz = 100
