package nats_test

import (
	"context"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/nats"
	"github.com/swarm-go/swarm/swarmtest"
)

// sharedAddr is the NATS server with JetStream every session runs (Debian's
// nats-server 2.9).
const sharedAddr = "127.0.0.1:4222"

// opener returns a swarmtest opener on the server at url with extra broker
// options; each queue's streams are deleted when the test ends, so the
// shared server does not fill up with test queues.
func opener(url string, extra ...nats.Option) func(testing.TB, string, ...swarm.Option) (swarm.Broker, error) {
	return func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
		t.Cleanup(func() { deleteStreams(t, url, queue) })
		o := append([]nats.Option{nats.WithURL(url), nats.WithKernel(opts...), nats.WithFetchWait(200 * time.Millisecond)}, extra...)
		return nats.New(queue, o...)
	}
}

// deleteStreams removes the streams of queue and of its dead letters.
func deleteStreams(t testing.TB, url, queue string) {
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, name := range []string{queue, queue + "_dlq"} {
		_ = js.DeleteStream(ctx, name)
	}
}

func TestConformance(t *testing.T) {
	swarmtest.RequireTCP(t, "nats-server", sharedAddr)
	open := opener("nats://" + sharedAddr)
	swarmtest.Run(t, swarmtest.Config{
		Open: open,
		OpenDeadLetters: func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return open(t, queue+".dlq", opts...)
		},
	})
}
