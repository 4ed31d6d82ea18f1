// Command postgres emits typed messages on a PostgreSQL queue table and
// consumes them (the quickstart with the broker line changed), then shows
// the transactional outbox: a message emitted inside the application's own
// transaction, which listeners see only if that transaction commits. It
// needs a PostgreSQL server, by default the local one (DATABASE_URL
// overrides):
//
//	go run ./examples/postgres
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/postgres"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// Order is the message: any Go type that encodes to JSON.
type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

func main() {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		dsn = postgres.DefaultDSN
	}
	if err := run(context.Background(), os.Stdout, dsn, "quickstart"); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, w io.Writer, dsn, queue string) error {
	// The only broker-specific line: the queue "quickstart" in the table
	// swarm_queue (created if absent).
	q, err := postgres.New(queue, postgres.WithDSN(dsn))
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

	// The transactional outbox: the order row and its message commit
	// together, or neither exists.
	box, err := postgres.NewOutbox[Order](q)
	if err != nil {
		return err
	}
	if _, err := q.Pool().Exec(ctx, `CREATE TABLE IF NOT EXISTS example_orders (id text PRIMARY KEY, amount float8)`); err != nil {
		return err
	}
	place := func(o Order, commit bool) error {
		return pgx.BeginFunc(ctx, q.Pool(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO example_orders VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET amount = $2`, o.ID, o.Amount); err != nil {
				return err
			}
			if err := box.Enq(ctx, tx, o); err != nil {
				return err
			}
			if !commit {
				return errRejected
			}
			return nil
		})
	}
	if err := place(Order{ID: "order-rejected", Amount: 1e6}, false); !errors.Is(err, errRejected) {
		return fmt.Errorf("rolled-back order: %v", err)
	}
	fmt.Fprintln(w, "outbox   order-rejected rolled back: no message")
	if err := place(Order{ID: "order-4", Amount: 42}, true); err != nil {
		return err
	}
	fmt.Fprintln(w, "outbox   order-4 committed with its row")
	select {
	case msg := <-deq:
		fmt.Fprintf(w, "received %s %.2f from the outbox\n", msg.Object.ID, msg.Object.Amount)
		ack <- msg
	case <-time.After(10 * time.Second):
		return errors.New("the committed outbox message did not arrive")
	}

	if err := q.Close(); err != nil {
		return err
	}
	fmt.Fprintln(w, "round trip complete: 3 emitted, 3 received and acked, 1 committed through the outbox")
	return nil
}

var errRejected = errors.New("order rejected by a business rule")
