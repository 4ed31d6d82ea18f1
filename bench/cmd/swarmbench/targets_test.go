package main

import (
	"testing"

	"github.com/swarm-go/swarm/bench/contender"
	"github.com/swarm-go/swarm/bench/workload"
)

// TestTargets: a row is ok at 0.80x of raw and ahead of Watermill, or as
// far ahead as its broker's WatermillTarget; each miss is named, and a row
// without a contender is judged on the others alone.
func TestTargets(t *testing.T) {
	rate := func(r float64) workload.Result { return workload.Result{Rate: r} }
	plain, bus := contender.Broker{}, contender.Broker{WatermillTarget: 3}
	for _, c := range []struct {
		name        string
		b           contender.Broker
		raw, sw, wm float64
		want        string
	}{
		{"at both targets", plain, 100, 80, 79, "ok"},
		{"below raw", plain, 100, 79, 10, "MISS raw<0.80"},
		{"behind Watermill", plain, 100, 90, 91, "MISS watermill<1x"},
		{"both", plain, 100, 50, 60, "MISS raw<0.80, MISS watermill<1x"},
		{"3x reached", bus, 100, 90, 30, "ok"},
		{"3x missed", bus, 100, 90, 31, "MISS watermill<3x"},
		{"no Watermill", plain, 100, 80, 0, "ok"},
		{"no raw", plain, 0, 10, 9, "ok"},
		{"no swarm", plain, 100, 0, 10, "-"},
	} {
		if got := targets(c.b, rate(c.raw), rate(c.sw), rate(c.wm)); got != c.want {
			t.Errorf("%s: targets = %q, want %q", c.name, got, c.want)
		}
	}
}
