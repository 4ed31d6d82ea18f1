package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/swarm-go/swarm/swarmtest"
)

// TestRun runs the example against the shared PostgreSQL, on a queue of its
// own so that runs do not see each other's messages.
func TestRun(t *testing.T) {
	swarmtest.RequireTCP(t, "PostgreSQL", "127.0.0.1:5432")
	var r [4]byte
	_, _ = rand.Read(r[:])
	var out bytes.Buffer
	if err := run(t.Context(), &out, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "example-"+hex.EncodeToString(r[:])); err != nil {
		t.Fatalf("%v\noutput:\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"received order-1 10.50 (attempt 1)", "received order-3 31.50", "order-rejected rolled back",
		"received order-4 42.00 from the outbox", "round trip complete"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "order-rejected 1000000") {
		t.Errorf("the rolled-back order was delivered:\n%s", got)
	}
}
