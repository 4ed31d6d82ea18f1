// Command kafka emits typed messages on a Kafka topic and consumes them: the
// quickstart program with the broker line changed.
//
//	KAFKA_BROKERS=127.0.0.1:9092 go run ./examples/kafka
//
// Without KAFKA_BROKERS it starts an in-process kfake cluster (package
// github.com/twmb/franz-go/pkg/kfake) and says so, so it runs anywhere.
package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/kafka"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Order is the message: any Go type that encodes to JSON.
type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

func main() {
	if err := run(os.Stdout, os.Getenv("KAFKA_BROKERS")); err != nil {
		log.Fatal(err)
	}
}

// run emits three orders and receives them on the cluster at brokers (a
// comma-separated host:port list), or on an in-process one when empty.
func run(out io.Writer, brokers string) error {
	if brokers == "" {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return fmt.Errorf("start kfake: %w", err)
		}
		defer c.Close()
		brokers = strings.Join(c.ListenAddrs(), ",")
		fmt.Fprintf(out, "KAFKA_BROKERS is not set: started an in-process kfake cluster on %s\n", brokers)
	}

	// The only broker-specific line: swap it for memory.New, nats.New, ...
	q, err := kafka.New("swarm-example-orders", kafka.WithBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return err
	}

	enq := swarm.LogDeadLetters(emit.Typed[Order](q))
	deq, ack := listen.Typed[Order](q)

	const n = 3
	for i := range n {
		order := Order{ID: fmt.Sprintf("order-%d", i+1), Amount: 10.5 * float64(i+1)}
		enq <- order
		fmt.Fprintf(out, "emitted  %s %.2f\n", order.ID, order.Amount)
	}

	for range n {
		msg := <-deq
		fmt.Fprintf(out, "received %s %.2f (attempt %d)\n", msg.Object.ID, msg.Object.Amount, msg.Attempt())
		ack <- msg
	}

	if err := q.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "round trip complete: %d emitted, %d received and acked\n", n, n)
	return nil
}
