package main

import (
	"strings"
	"testing"

	"github.com/swarm-go/swarm/broker/sqs/sqstest"
)

// TestRun runs the example against a private fauxqs emulator (skipped
// without node and npm).
func TestRun(t *testing.T) {
	em := sqstest.Start(t)
	var out strings.Builder
	if err := run(&out, em.Endpoint); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "round trip complete: 3 emitted, 3 received and acked") {
		t.Errorf("output:\n%s", out.String())
	}
}
