// Command redis emits typed messages on a Redis stream and consumes them:
// the quickstart with the broker line changed. It needs a Redis (or Valkey)
// server, by default on 127.0.0.1:6379 (REDIS_ADDR overrides):
//
//	go run ./examples/redis
package main

import (
	"fmt"
	"io"
	"log"
	"os"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/redis"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// Order is the message: any Go type that encodes to JSON.
type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

func main() {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		addr = redis.DefaultAddr
	}
	if err := run(os.Stdout, addr, "quickstart"); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer, addr, queue string) error {
	// The only broker-specific line: the stream "quickstart" on Redis.
	q, err := redis.New(queue, redis.WithAddr(addr))
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
