// Command kinesis emits typed messages on an Amazon Kinesis data stream and
// consumes them: the quickstart with the broker line changed.
//
//	KINESIS_ENDPOINT=http://127.0.0.1:4567 go run ./examples/kinesis   # kinesalite
//	AWS_REGION=eu-west-1 go run ./examples/kinesis                       # AWS
package main

import (
	"fmt"
	"io"
	"log"
	"os"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/kinesis"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// Order is the message: any Go type that encodes to JSON.
type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

func main() {
	stream := os.Getenv("KINESIS_STREAM")
	if stream == "" {
		stream = "swarm-example"
	}
	var opts []kinesis.Option
	if ep := os.Getenv("KINESIS_ENDPOINT"); ep != "" {
		opts = append(opts, kinesis.WithEndpoint(ep))
	}
	if err := run(os.Stdout, stream, opts...); err != nil {
		log.Fatal(err)
	}
}

func run(out io.Writer, stream string, opts ...kinesis.Option) error {
	// The only broker-specific line.
	q, err := kinesis.New(stream, opts...)
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
