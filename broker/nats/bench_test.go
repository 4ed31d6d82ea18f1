package nats_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/swarm-go/swarm/broker/nats"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

// benchRoundTrip emits b.N messages on one broker and consumes them on
// another: the throughput of a producer and a consumer through the server.
func benchRoundTrip(b *testing.B, cleanup func(queue string), opts ...nats.Option) {
	var r [4]byte
	_, _ = rand.Read(r[:])
	queue := "bench-" + hex.EncodeToString(r[:])
	if cleanup != nil {
		defer cleanup(queue)
	}
	producer, err := nats.New(queue, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()
	consumer, err := nats.New(queue, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer consumer.Close()
	enq, _ := emit.Typed[swarmtest.Note](producer)
	deq, ack := listen.Typed[swarmtest.Note](consumer)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := range b.N {
			enq <- swarmtest.Note{Seq: i, Text: "benchmark"}
		}
	}()
	for range b.N {
		ack <- <-deq
	}
}

func BenchmarkEmbedded(b *testing.B) {
	srv, err := nats.RunServer(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	benchRoundTrip(b, nil, nats.WithServer(srv))
}

func BenchmarkShared(b *testing.B) {
	swarmtest.RequireTCP(b, "nats-server", sharedAddr)
	url := "nats://" + sharedAddr
	benchRoundTrip(b, func(queue string) { deleteStreams(b, url, queue) }, nats.WithURL(url))
}
