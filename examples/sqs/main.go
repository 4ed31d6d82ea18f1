// Command sqs emits typed messages on an Amazon SQS queue and consumes them:
// the quickstart program with the broker line changed.
//
//	go run ./examples/sqs                                   # AWS: default credentials and region
//	AWS_ENDPOINT_URL=http://127.0.0.1:4566 go run ./examples/sqs   # an emulator (fauxqs)
package main

import (
	"fmt"
	"io"
	"log"
	"os"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/sqs"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// Order is the message: any Go type that encodes to JSON.
type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

func main() {
	if err := run(os.Stdout, os.Getenv("AWS_ENDPOINT_URL")); err != nil {
		log.Fatal(err)
	}
}

// run emits three orders and receives them, on AWS or at endpoint when set.
func run(out io.Writer, endpoint string) error {
	var opts []sqs.Option
	if endpoint != "" {
		opts = append(opts, sqs.WithEndpoint(endpoint))
	}
	// The only broker-specific line: swap it for memory.New, nats.New, ...
	q, err := sqs.New("swarm-example-orders", opts...)
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
