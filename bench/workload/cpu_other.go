//go:build !linux

package workload

import "time"

// HostCPU is not measured outside Linux: ok is false.
func HostCPU() (busy, idle, total time.Duration, ok bool) { return 0, 0, 0, false }

// cpuNow is not measured outside Linux.
func cpuNow() (self, host time.Duration, ok bool) { return 0, 0, false }
