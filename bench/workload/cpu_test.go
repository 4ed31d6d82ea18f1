package workload

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestCPUCountsThisProcess spins for a while and checks that the meter
// charges it to this process, within what the wall clock allows.
func TestCPUCountsThisProcess(t *testing.T) {
	if _, _, ok := cpuNow(); !ok {
		t.Skip("CPU time is not measured on " + runtime.GOOS)
	}
	m := startMeter()
	start := time.Now()
	for x := 0; time.Since(start) < 300*time.Millisecond; x++ {
		_ = x * x
	}
	wall := time.Since(start)
	var r Result
	m.stop(&r, 1)
	if r.ClientCPU < 50*time.Millisecond || r.ClientCPU > wall*time.Duration(runtime.NumCPU())+50*time.Millisecond {
		t.Fatalf("ClientCPU %v after spinning %v on %d CPUs", r.ClientCPU, wall, runtime.NumCPU())
	}
	if r.OtherCPU < 0 {
		t.Fatalf("OtherCPU %v, want 0 or more", r.OtherCPU)
	}
}

// chanContender is a buffered channel carrying encoded payloads.
type chanContender chan []byte

func (c chanContender) Publish(ctx context.Context, n int, msg func(int) Payload) error {
	for i := range n {
		c <- Encode(msg(i))
	}
	return nil
}

func (c chanContender) Consume(ctx context.Context, n int, got func(Payload)) error {
	for range n {
		p, err := Decode(<-c)
		if err != nil {
			return err
		}
		got(p)
	}
	return nil
}

func (c chanContender) Close() error { return nil }

// TestRunsReportCPU checks that both workloads report the CPU per message
// of their run, divided by the messages.
func TestRunsReportCPU(t *testing.T) {
	if _, _, ok := cpuNow(); !ok {
		t.Skip("CPU time is not measured on " + runtime.GOOS)
	}
	const n = 20000
	f := func(string) (Contender, error) { return make(chanContender, n), nil }
	for name, run := range map[string]func(Factory, string, int, int) Result{"Sequential": Sequential, "Concurrent": Concurrent} {
		r := run(f, "q", n, 1024)
		if r.Err != nil {
			t.Fatalf("%s: %v", name, r.Err)
		}
		// Encoding and decoding 1 KiB of JSON takes a microsecond or more;
		// the whole run's CPU, undivided, would be tens of milliseconds.
		if r.ClientCPU < 100*time.Nanosecond || r.ClientCPU > time.Millisecond {
			t.Errorf("%s: ClientCPU %v per message, want a few microseconds", name, r.ClientCPU)
		}
	}
}
