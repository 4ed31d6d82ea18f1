package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm/broker/nats"
	"github.com/swarm-go/swarm/swarmtest"
)

func check(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{"received order-1 10.50 (attempt 1)", "received order-3 31.50", "round trip complete"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestRun runs the example against the shared NATS server, on a stream of
// its own that it deletes afterwards.
func TestRun(t *testing.T) {
	swarmtest.RequireTCP(t, "nats-server", "127.0.0.1:4222")
	var r [4]byte
	_, _ = rand.Read(r[:])
	queue := "example-" + hex.EncodeToString(r[:])
	t.Cleanup(func() {
		nc, err := natsgo.Connect(nats.DefaultURL)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, queue)
	})
	var out strings.Builder
	if err := run(&out, queue, nats.WithURL(nats.DefaultURL)); err != nil {
		t.Fatal(err)
	}
	check(t, out.String())
}

// TestRunEmbedded runs the example on the in-process server: no
// infrastructure needed.
func TestRunEmbedded(t *testing.T) {
	var out strings.Builder
	if err := run(&out, "quickstart", nats.WithEmbeddedServer(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	check(t, out.String())
}
