// Command quickstart emits typed messages on the in-process broker and
// consumes them, with no infrastructure: go run ./examples/quickstart
package main

import (
	"fmt"
	"log"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/memory"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// Order is the message: any Go type that encodes to JSON.
type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

func main() {
	// The only broker-specific line: swap it for nats.New, sqs.New, ...
	q, err := memory.New("quickstart")
	if err != nil {
		log.Fatal(err)
	}

	enq := swarm.LogDeadLetters(emit.Typed[Order](q))
	deq, ack := listen.Typed[Order](q)

	const n = 3
	for i := range n {
		order := Order{ID: fmt.Sprintf("order-%d", i+1), Amount: 10.5 * float64(i+1)}
		enq <- order
		fmt.Printf("emitted  %s %.2f\n", order.ID, order.Amount)
	}

	for range n {
		msg := <-deq
		fmt.Printf("received %s %.2f (attempt %d)\n", msg.Object.ID, msg.Object.Amount, msg.Attempt())
		ack <- msg
	}

	if err := q.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("round trip complete: 3 emitted, 3 received and acked")
}
