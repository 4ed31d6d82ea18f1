package amqp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/swarm-go/swarm/broker/amqp"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

// BenchmarkRoundTrip emits b.N persistent messages (confirmed) and
// consumes and acks them on the shared RabbitMQ.
func BenchmarkRoundTrip(b *testing.B) {
	swarmtest.RequireTCP(b, "RabbitMQ", "127.0.0.1:5672")
	queue := fmt.Sprintf("swarm-amqp-bench-%d", time.Now().UnixNano())
	b.Cleanup(func() { deleteQueues(b, sharedURL, queue) })
	q, err := amqp.New(queue)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	enq, _ := emit.Typed[swarmtest.Note](q)
	deq, ack := listen.Typed[swarmtest.Note](q)
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
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
