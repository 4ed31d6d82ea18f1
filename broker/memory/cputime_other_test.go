//go:build !unix

package memory_test

import "time"

// cpuTime is not measured here; the benchmarks then report 0 CPU per message.
func cpuTime() time.Duration { return 0 }
