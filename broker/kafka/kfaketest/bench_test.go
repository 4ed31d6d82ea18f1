package kfaketest

import (
	"testing"

	"github.com/swarm-go/swarm/broker/kafka"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

// BenchmarkRoundTrip emits b.N notes and receives and acks them on one
// broker over kfake: go test -bench RoundTrip -run '^$'
func BenchmarkRoundTrip(b *testing.B) {
	q, err := kafka.New(topicName(b), options(seed)...)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	enq, _ := emit.Typed[swarmtest.Note](q)
	deq, ack := listen.Typed[swarmtest.Note](q)
	b.ResetTimer()
	go func() {
		for i := range b.N {
			enq <- swarmtest.Note{Seq: i}
		}
	}()
	for range b.N {
		ack <- <-deq
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
