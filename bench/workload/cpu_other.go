//go:build !linux

package workload

import "time"

// cpuNow is not measured outside Linux.
func cpuNow() (self, host time.Duration, ok bool) { return 0, 0, false }
