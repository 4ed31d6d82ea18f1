package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swarm-go/swarm/swarmtest"
)

// TestRun runs the example on the cluster named by KAFKA_BROKERS, or on the
// in-process kfake cluster it starts when that is unset.
func TestRun(t *testing.T) {
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers != "" {
		swarmtest.RequireTCP(t, "Kafka", strings.Split(brokers, ",")[0])
	}
	var out strings.Builder
	done := make(chan error, 1)
	go func() { done <- run(&out, brokers) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the example did not finish within 60s")
	}
	want := "received order-3 31.50 (attempt 1)\nround trip complete: 3 emitted, 3 received and acked\n"
	if !strings.HasSuffix(out.String(), want) {
		t.Fatalf("output:\n%s\nwant it to end with:\n%s", out.String(), want)
	}
}
