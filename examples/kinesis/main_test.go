package main

import (
	"strings"
	"testing"

	"github.com/swarm-go/swarm/broker/kinesis"
	"github.com/swarm-go/swarm/broker/kinesis/kinesistest"
)

// TestRun runs the example against a private kinesalite (skipped when node
// or npm are absent).
func TestRun(t *testing.T) {
	em := kinesistest.Start(t, false)
	var out strings.Builder
	if err := run(&out, "example", kinesis.WithEndpoint(em.Endpoint)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"received order-1 10.50 (attempt 1)", "received order-3 31.50", "round trip complete"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
