// Command swarmbench runs one workload three ways per broker (the raw
// client, swarm, Watermill) in one process and prints one table.
//
//	go run ./cmd/swarmbench -n 200000
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/swarm-go/swarm/bench/contender"
	"github.com/swarm-go/swarm/bench/workload"
)

type broker struct {
	name                  string
	raw, swarm, watermill workload.Factory
}

type run struct {
	name  string
	size  int
	do    func(workload.Factory, string, int, int) workload.Result
	scale int // divides n
}

func main() {
	n := flag.Int("n", 200_000, "messages per run of the 100-byte workloads")
	rss := flag.Int("rss", 0, "instead of the table, push this many messages through the memory broker to a slow consumer and report the peak RSS")
	flag.Parse()
	if *rss > 0 {
		if err := memoryBound(*rss); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}

	brokers := []broker{
		{"memory", contender.MemoryRaw(*n), contender.MemorySwarm(*n), contender.MemoryWatermill()},
	}
	runs := []run{
		{"publish-then-consume 100B", 100, workload.Sequential, 1},
		{"publish-then-consume 1KiB", 1024, workload.Sequential, 4},
		{"concurrent 100B", 100, workload.Concurrent, 1},
	}

	fmt.Printf("swarmbench: %s/%s, %d CPUs, %s, n=%d\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), *n)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "broker\tworkload\traw msgs/s\tswarm msgs/s\twatermill msgs/s\tswarm/raw\tswarm/watermill\tswarm p50\tswarm p99\tswarm allocs/msg\t")
	seq := 0
	for _, b := range brokers {
		for _, r := range runs {
			count := *n / r.scale
			measure := func(f workload.Factory) workload.Result {
				if f == nil {
					return workload.Result{}
				}
				seq++
				f2 := f
				_ = r.do(f2, fmt.Sprintf("bench-warm-%d-%d", os.Getpid(), seq), max(count/20, 100), r.size)
				runtime.GC()
				return r.do(f2, fmt.Sprintf("bench-%d-%d", os.Getpid(), seq), count, r.size)
			}
			raw, sw, wm := measure(b.raw), measure(b.swarm), measure(b.watermill)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t\n", b.name, r.name,
				rate(raw), rate(sw), rate(wm), ratio(sw, raw), ratio(sw, wm), lat(sw.P50), lat(sw.P99), sw.AllocsPerMsg)
			for _, res := range []workload.Result{raw, sw, wm} {
				if res.Err != nil {
					fmt.Fprintf(os.Stderr, "%s %s: %v\n", b.name, r.name, res.Err)
				}
			}
		}
	}
	tw.Flush()
}

func rate(r workload.Result) string {
	if r.Err != nil || r.Rate == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", r.Rate)
}

func ratio(a, b workload.Result) string {
	if a.Rate == 0 || b.Rate == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a.Rate/b.Rate)
}

func lat(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Microsecond).String()
}
