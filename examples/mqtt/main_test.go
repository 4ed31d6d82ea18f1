package main

import (
	"net"
	"testing"
	"time"

	"github.com/swarm-go/swarm/swarmtest"
)

// TestRun runs the example against the shared Mosquitto.
func TestRun(t *testing.T) {
	const addr = "127.0.0.1:1883"
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		swarmtest.Unavailable(t, "mosquitto at %s: %v", addr, err)
		return
	}
	c.Close()
	done := make(chan error, 1)
	go func() { done <- run("mqtt://" + addr) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the example did not finish within 30s")
	}
}
