package redis_test

import (
	"testing"

	"github.com/swarm-go/swarm/broker/redis"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

// BenchmarkRoundTrip emits b.N messages on one broker and receives and
// acks them on another, through the shared Redis.
func BenchmarkRoundTrip(b *testing.B) {
	swarmtest.RequireTCP(b, "redis", sharedAddr)
	q := queueName(b, newKeys(b, sharedAddr))
	producer, err := redis.New(q, redis.WithAddr(sharedAddr))
	if err != nil {
		b.Fatal(err)
	}
	consumer, err := redis.New(q, redis.WithAddr(sharedAddr))
	if err != nil {
		b.Fatal(err)
	}
	enq, _ := emit.Typed[swarmtest.Note](producer)
	deq, ack := listen.Typed[swarmtest.Note](consumer)
	b.ResetTimer()
	go func() {
		for i := range b.N {
			enq <- swarmtest.Note{Seq: i, Text: "benchmark"}
		}
	}()
	for range b.N {
		ack <- <-deq
	}
	b.StopTimer()
	_ = producer.Close()
	_ = consumer.Close()
}
