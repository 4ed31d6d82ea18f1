// Command swarmbench runs one workload three ways per broker (the raw
// client, swarm, Watermill) in one process and prints one table.
//
//	go run ./cmd/swarmbench                 # every broker found here
//	go run ./cmd/swarmbench -broker nats    # one
package main

import (
	"cmp"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/swarm-go/swarm/bench/contender"
	"github.com/swarm-go/swarm/bench/workload"
)

type run struct {
	name  string
	size  int
	do    func(workload.Factory, string, int, int) workload.Result
	scale int // divides n
}

func main() {
	n := flag.Int("n", 1_000_000, "most messages per run of the 100-byte workloads")
	only := flag.String("broker", "", "run only the brokers whose names contain this")
	rss := flag.Int("rss", 0, "instead of the table, push this many messages through the memory broker to a slow consumer and report the peak RSS")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	seconds := flag.Duration("seconds", 2*time.Second, "about how long each measured run lasts (its message count follows the warm-up's rate, up to -n)")
	reps := flag.Int("count", 3, "repetitions of each measurement (interleaved); the table shows the median")
	cpu := flag.Bool("cpu", false, "after the table, print each contender's CPU per message: its process's and the rest of the host's (Linux)")
	which := flag.String("contenders", "raw,swarm,watermill", "run only these contenders (comma-separated), e.g. -contenders swarm with -cpuprofile")
	flag.Parse()
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer stop()
	}
	enabled := map[string]bool{}
	for _, c := range strings.Split(*which, ",") {
		enabled[strings.TrimSpace(c)] = true
	}
	if *rss > 0 {
		if err := memoryBound(*rss); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}

	runs := []run{
		{"publish-then-consume 100B", 100, workload.Sequential, 1},
		{"publish-then-consume 1KiB", 1024, workload.Sequential, 4},
		{"concurrent 100B", 100, workload.Concurrent, 1},
	}

	fmt.Printf("swarmbench: %s/%s, %d CPUs, %s, n<=%d, runs of about %v, median of %d\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), *n, *seconds, *reps)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "broker\tworkload\traw msgs/s\tswarm msgs/s\twatermill msgs/s\tswarm/raw\tswarm/watermill\tswarm p50\tswarm p99\tswarm allocs/msg\ttargets\t")
	seq := 0
	var notes []string
	var cpuRows []cpuRow
	for _, b := range contender.Brokers(*n) {
		if *only != "" && !strings.Contains(b.Name, *only) {
			continue
		}
		// What Setup started (an emulator, the fake Kafka cluster) is
		// released when the broker's runs end, not at exit: idle, it still
		// takes memory and the odd timer from the brokers after it.
		release := func() {}
		if b.Setup != nil {
			var err error
			if release, err = b.Setup(); err != nil {
				notes = append(notes, fmt.Sprintf("%s skipped: %v", b.Name, err))
				continue
			}
		}
		waited, settled := settle(30 * time.Second)
		if !settled {
			notes = append(notes, fmt.Sprintf("%s started on a busy host (less than 80%% idle after %v)", b.Name, waited.Round(time.Second)))
		}
		fmt.Fprintf(os.Stderr, "swarmbench: %s (host settled in %v)...\n", b.Name, waited.Round(100*time.Millisecond)) // the table prints at the end
		for _, r := range runs {
			count := *n / r.scale / max(b.Scale, 1)
			measure := func(f workload.Factory) workload.Result {
				if f == nil {
					return workload.Result{}
				}
				seq++
				warm := r.do(f, fmt.Sprintf("bench-warm-%d-%d", os.Getpid(), seq), max(count/20, 100), r.size)
				// Size the run to last about -seconds at the warm-up's rate
				// (never more than count): a contender 50x slower than
				// another then costs the same time, and its rate is as exact.
				c := count
				if warm.Rate > 0 {
					c = min(count, max(int(warm.Rate*seconds.Seconds()), 1000))
				}
				// What the warm-up or the run before left to the server (a
				// dropped table, a vacuum, a flush) is done before the clock
				// starts, whichever contender it came from.
				settle(5 * time.Second)
				runtime.GC()
				return r.do(f, fmt.Sprintf("bench-%d-%d", os.Getpid(), seq), c, r.size)
			}
			pick := func(name string, f workload.Factory) workload.Factory {
				if !enabled[name] {
					return nil
				}
				return f
			}
			// Interleaved repetitions, the median of each: a shared machine
			// drifts, and one short run can be off by half. The order turns
			// each repetition, so that no contender always runs after the
			// same other one (and pays for what it left behind).
			var raws, sws, wms []workload.Result
			order := []func(){
				func() { raws = append(raws, measure(pick("raw", b.Raw))) },
				func() { sws = append(sws, measure(pick("swarm", b.Swarm))) },
				func() { wms = append(wms, measure(pick("watermill", b.Watermill))) },
			}
			for rep := range *reps {
				for i := range order {
					order[(rep+i)%len(order)]()
				}
			}
			raw, sw, wm := median(raws), median(sws), median(wms)
			cpuRows = append(cpuRows, cpuRow{b.Name, r.name, raw, sw, wm})
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t\n", b.Name, r.name,
				rate(raw), rate(sw), rate(wm), ratio(sw, raw), ratio(sw, wm), lat(sw.P50), lat(sw.P99), sw.AllocsPerMsg,
				targets(b, raw, sw, wm))
			// The two phases of a sequential run, each the median of its own.
			for _, ph := range []struct {
				name string
				rate func(workload.Result) float64
			}{{"send", func(r workload.Result) float64 { return r.Send }}, {"receive+ack", func(r workload.Result) float64 { return r.Receive }}} {
				raw, sw, wm := phase(raws, ph.rate), phase(sws, ph.rate), phase(wms, ph.rate)
				if sw.Rate == 0 {
					continue
				}
				fmt.Fprintf(tw, "%s\t  %s\t%s\t%s\t%s\t%s\t%s\t-\t-\t-\t%s\t\n", b.Name, ph.name,
					rate(raw), rate(sw), rate(wm), ratio(sw, raw), ratio(sw, wm), targets(b, raw, sw, wm))
			}
			for _, res := range []workload.Result{raw, sw, wm} {
				if res.Err != nil {
					fmt.Fprintf(os.Stderr, "%s %s: %v\n", b.Name, r.name, res.Err)
				}
			}
		}
		release()
	}
	tw.Flush()
	for _, note := range notes {
		fmt.Println(note)
	}
	if *cpu {
		if err := printCPU(os.Stdout, cpuRows); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// Targets of the benchmark (BENCHMARKS.md): swarm at 0.80x raw or more, and
// ahead of Watermill (or as far ahead as the broker's WatermillTarget: 3x
// for the in-process broker as an event bus, memory.WithoutEncoding).
const (
	rawTarget       = 0.80
	watermillTarget = 1.0
)

// targets says which targets a row meets: "ok", or what it misses.
func targets(b contender.Broker, raw, sw, wm workload.Result) string {
	if sw.Rate == 0 {
		return "-"
	}
	var miss []string
	if raw.Rate > 0 && sw.Rate/raw.Rate < rawTarget {
		miss = append(miss, fmt.Sprintf("MISS raw<%.2f", rawTarget))
	}
	want := cmp.Or(b.WatermillTarget, watermillTarget)
	if wm.Rate > 0 && sw.Rate/wm.Rate < want {
		miss = append(miss, fmt.Sprintf("MISS watermill<%.0fx", want))
	}
	if len(miss) == 0 {
		return "ok"
	}
	return strings.Join(miss, ", ")
}

// median returns the result of median rate; an error of any run is kept.
func median(rs []workload.Result) workload.Result {
	for _, r := range rs {
		if r.Err != nil {
			return r
		}
	}
	if len(rs) == 0 {
		return workload.Result{}
	}
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b workload.Result) int { return cmp.Compare(a.Rate, b.Rate) })
	return sorted[len(sorted)/2]
}

// phase returns, as the Rate of a Result, the median of one phase's rate.
func phase(rs []workload.Result, rate func(workload.Result) float64) workload.Result {
	var rates []float64
	for _, r := range rs {
		if r.Err != nil {
			return workload.Result{}
		}
		if v := rate(r); v > 0 {
			rates = append(rates, v)
		}
	}
	if len(rates) == 0 {
		return workload.Result{}
	}
	slices.Sort(rates)
	return workload.Result{Rate: rates[len(rates)/2]}
}

func rate(r workload.Result) string {
	if r.Err != nil || r.Rate == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", r.Rate)
}

// ratio formats a.Rate over b.Rate; "-" when either did not run.
func ratio(a, b workload.Result) string {
	if a.Rate == 0 || b.Rate == 0 {
		return "-"
	}
	// Rounded down, so that a row the targets column marks as a miss never
	// shows the target itself (0.7999 as 0.80x).
	return fmt.Sprintf("%.2fx", math.Floor(a.Rate/b.Rate*100)/100)
}

func lat(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Microsecond).String()
}
