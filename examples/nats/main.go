// Command nats emits typed messages on a NATS JetStream stream and consumes
// them: the quickstart with the broker line changed. By default it uses the
// server on 127.0.0.1:4222 (NATS_URL overrides); with -embedded DIR it runs
// the server inside the process, keeping the stream in DIR, and needs no
// infrastructure at all:
//
//	go run ./examples/nats
//	go run ./examples/nats -embedded /tmp/swarm-nats
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/nats"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// Order is the message: any Go type that encodes to JSON.
type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

func main() {
	embedded := flag.String("embedded", "", "run an in-process NATS server storing its streams in this directory")
	flag.Parse()
	server := nats.WithURL(nats.DefaultURL)
	if u := os.Getenv("NATS_URL"); u != "" {
		server = nats.WithURL(u)
	}
	if *embedded != "" {
		server = nats.WithEmbeddedServer(*embedded)
	}
	if err := run(os.Stdout, "quickstart", server); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer, queue string, server nats.Option) error {
	// The only broker-specific line: the stream "quickstart" on NATS.
	q, err := nats.New(queue, server)
	if err != nil {
		return err
	}

	enq := swarm.LogDeadLetters(emit.Typed[Order](q))
	deq, ack := listen.Typed[Order](q)

	const n = 3
	for i := range n {
		order := Order{ID: fmt.Sprintf("order-%d", i+1), Amount: 10.5 * float64(i+1)}
		enq <- order
		fmt.Fprintf(w, "emitted  %s %.2f\n", order.ID, order.Amount)
	}

	for range n {
		msg := <-deq
		fmt.Fprintf(w, "received %s %.2f (attempt %d)\n", msg.Object.ID, msg.Object.Amount, msg.Attempt())
		ack <- msg
	}

	if err := q.Close(); err != nil {
		return err
	}
	fmt.Fprintln(w, "round trip complete: 3 emitted, 3 received and acked")
	return nil
}
