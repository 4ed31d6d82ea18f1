package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/swarm-go/swarm/bench/workload"
)

// cpuRow is one row of the -cpu table: the median runs of one workload.
type cpuRow struct {
	broker, workload string
	raw, swarm, wm   workload.Result
}

// printCPU writes the CPU each contender's median run spent per message:
// its own process's ("client") and the rest of the host's ("others": the
// broker's server or emulator). On a host with few cores the two share
// the cores, so a rate follows their sum: the table tells a library that
// costs more CPU itself from one that makes its server work harder.
func printCPU(w io.Writer, rows []cpuRow) error {
	fmt.Fprintln(w, "\nCPU per message (us), of each contender's median run: client = this process, others = the rest of the host")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "broker\tworkload\traw client\traw others\tswarm client\tswarm others\twatermill client\twatermill others\tswarm/raw total\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.broker, r.workload,
			us(r.raw, r.raw.ClientCPU), us(r.raw, r.raw.OtherCPU),
			us(r.swarm, r.swarm.ClientCPU), us(r.swarm, r.swarm.OtherCPU),
			us(r.wm, r.wm.ClientCPU), us(r.wm, r.wm.OtherCPU), cpuRatio(r.swarm, r.raw))
	}
	return tw.Flush()
}

// us formats d in microseconds; "-" when res did not run or was not measured.
func us(res workload.Result, d time.Duration) string {
	if res.Rate == 0 || res.Err != nil || res.ClientCPU == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Microsecond))
}

// cpuRatio is a's total CPU per message over b's.
func cpuRatio(a, b workload.Result) string {
	ta, tb := a.ClientCPU+a.OtherCPU, b.ClientCPU+b.OtherCPU
	if a.Rate == 0 || b.Rate == 0 || a.Err != nil || b.Err != nil || ta == 0 || tb == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", float64(ta)/float64(tb))
}
