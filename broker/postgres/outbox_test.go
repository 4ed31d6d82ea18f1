package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/postgres"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

type Invoice struct {
	No    int    `json:"no"`
	State string `json:"state"`
}

func freshQueue() string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return "outbox-" + hex.EncodeToString(r[:])
}

// TestOutbox: messages written by an Outbox inside the application's
// transaction arrive only when it commits; a rollback leaves none; and they
// arrive on the same typed channel as emit.Typed's.
func TestOutbox(t *testing.T) {
	swarmtest.RequireTCP(t, "PostgreSQL", sharedAddr)
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, sharedDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q, err := postgres.New(freshQueue(), postgres.WithPool(pool))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS swarm_outbox_invoices (no int PRIMARY KEY, state text)`); err != nil {
		t.Fatal(err)
	}
	box, err := postgres.NewOutbox[Invoice](q)
	if err != nil {
		t.Fatal(err)
	}
	deq, ack := listen.Typed[Invoice](q)

	// Rolled back: neither the row nor the message exists.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := box.Enq(ctx, tx, Invoice{No: 1, State: "draft"}); err != nil {
			return err
		}
		return errors.New("business rule says no")
	})
	if err == nil {
		t.Fatal("transaction did not fail")
	}
	select {
	case m := <-deq:
		t.Fatalf("a message of a rolled-back transaction arrived: %+v", m.Object)
	case <-time.After(500 * time.Millisecond):
	}

	// Committed, with the business row: the messages arrive, in order,
	// and not before the commit.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	no := int(time.Now().UnixNano() % 1e9)
	if _, err := tx.Exec(ctx, `INSERT INTO swarm_outbox_invoices VALUES ($1, 'sent')`, no); err != nil {
		t.Fatal(err)
	}
	if err := box.Enq(ctx, tx, Invoice{No: 2, State: "sent"}, Invoice{No: 3, State: "sent"}); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Enq(ctx, tx, q, Invoice{No: 4, State: "sent"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-deq:
		t.Fatalf("a message arrived before the commit: %+v", m.Object)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for want := 2; want <= 4; want++ {
		select {
		case m := <-deq:
			if m.Object.No != want || m.Category() != "Invoice" || m.ID() == "" {
				t.Fatalf("got %+v category %q id %q, want invoice %d", m.Object, m.Category(), m.ID(), want)
			}
			ack <- m
		case <-time.After(10 * time.Second):
			t.Fatalf("committed invoice %d did not arrive", want)
		}
	}
	_, _ = pool.Exec(context.Background(), `DELETE FROM swarm_outbox_invoices WHERE no = $1`, no)

	// Same category and codec as emit.Typed: both reach one listener.
	enq, _ := emit.Typed[Invoice](q)
	enq <- Invoice{No: 5}
	if m := <-deq; m.Object.No != 5 {
		t.Fatalf("emit.Typed message %+v", m.Object)
	} else {
		ack <- m
	}
}

type Renamed struct{ N int }

func TestOutboxCategoryConflictAndClose(t *testing.T) {
	swarmtest.RequireTCP(t, "PostgreSQL", sharedAddr)
	q, err := postgres.New(freshQueue(), postgres.WithDSN(sharedDSN))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.NewOutbox[Invoice](q); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.NewOutbox[Renamed](q, swarm.Category("Invoice")); !errors.Is(err, swarm.ErrCategoryConflict) {
		t.Errorf("second type on category Invoice: %v, want ErrCategoryConflict", err)
	}
	box, err := postgres.NewOutbox[Renamed](q, swarm.Category("renamed"))
	if err != nil || box.Category() != "renamed" {
		t.Fatalf("outbox %v, category %q", err, box.Category())
	}
	// The transaction comes from the application's own pool: Close of a
	// broker waits for the connections of the pool it opened to be released.
	pool, err := pgxpool.New(t.Context(), sharedDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := box.Enq(t.Context(), tx, Renamed{1}); !errors.Is(err, swarm.ErrClosed) {
		t.Errorf("Enq after Close = %v, want ErrClosed", err)
	}
}
