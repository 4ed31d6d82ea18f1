package nats_test

import (
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/nats"
	"github.com/swarm-go/swarm/swarmtest"
)

// TestEmbeddedConformance runs the suite against an in-process server
// (nats-server v2.11 linked into the test), connected without TCP.
func TestEmbeddedConformance(t *testing.T) {
	srv, err := nats.RunServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	open := func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
		return nats.New(queue, nats.WithServer(srv), nats.WithKernel(opts...), nats.WithFetchWait(200*time.Millisecond))
	}
	swarmtest.Run(t, swarmtest.Config{
		Open: open,
		OpenDeadLetters: func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return open(t, queue+".dlq", opts...)
		},
	})
}
