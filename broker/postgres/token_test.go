package postgres

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/swarm-go/swarm/kernel"
)

// TestStaleHandle: a handle from an earlier delivery (its lease gone, the
// message delivered again) settles nothing; the current one does.
func TestStaleHandle(t *testing.T) {
	dsn := localServer(t)
	queue := "st-token-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	b, err := New(queue, WithDSN(dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d, ctx := b.d, context.Background()
	if errs := d.Send(ctx, []kernel.Envelope{{Category: "c", ID: "m1", Payload: []byte("x")}}); errs != nil {
		t.Fatal(errs[0])
	}
	take := func(want int) any {
		t.Helper()
		for range 50 {
			envs, err := d.Receive(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(envs) == 1 {
				if envs[0].Attempt != want || envs[0].ID != "m1" {
					t.Fatalf("got %s attempt %d, want m1 attempt %d", envs[0].ID, envs[0].Attempt, want)
				}
				return envs[0].Handle
			}
		}
		t.Fatalf("attempt %d not received", want)
		return nil
	}
	rows := func() (n int) {
		t.Helper()
		if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM swarm_queue WHERE queue = $1`, queue).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	h1 := take(1)
	if err := d.Nack(ctx, []any{h1}, 0); err != nil { // as if its lease ran out
		t.Fatal(err)
	}
	h2 := take(2)
	if err := d.Extend(ctx, []any{h1}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx, []any{h1}); err != nil {
		t.Fatal(err)
	}
	if err := d.DeadLetter(ctx, []any{h1}); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 1 {
		t.Fatalf("a stale handle settled the message: %d rows left", n)
	}
	if err := d.Nack(ctx, []any{h2}, 0); err != nil {
		t.Fatal(err)
	}
	h3 := take(3) // h1's Extend did not hide it
	if err := d.Ack(ctx, []any{h3, "foreign"}); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 0 {
		t.Fatalf("ack left %d rows", n)
	}

	// One ack of a stale handle of one message (attempt 1, now delivered
	// again) and the current handle of another (attempt 2) deletes only the
	// latter: tokens match as pairs, not as sets of ids and attempts.
	if errs := d.Send(ctx, []kernel.Envelope{{Category: "c", ID: "m2", Payload: []byte("y")}, {Category: "c", ID: "m3", Payload: []byte("z")}}); errs != nil {
		t.Fatal(errs[0])
	}
	both := func(attempt int) []any {
		t.Helper()
		envs, err := d.Receive(ctx, 10)
		if err != nil || len(envs) != 2 || envs[0].Attempt != attempt || envs[1].Attempt != attempt {
			t.Fatalf("received %d, %v; want m2 and m3 at attempt %d", len(envs), err, attempt)
		}
		return []any{envs[0].Handle, envs[1].Handle}
	}
	first := both(1)
	if err := d.Nack(ctx, first, 0); err != nil {
		t.Fatal(err)
	}
	second := both(2)
	if err := d.Ack(ctx, []any{first[0], second[1]}); err != nil {
		t.Fatal(err)
	}
	second[0].(*handle).hold.expire() // commits the hold's ack, m2 leased
	var left []string
	if r, err := d.pool.Query(ctx, `SELECT msg_id FROM swarm_queue WHERE queue = $1`, queue); err != nil {
		t.Fatal(err)
	} else if left, err = pgx.CollectRows(r, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != "m2" {
		t.Fatalf("rows left %v, want [m2]: only m3's current handle settles", left)
	}
	if err := d.Ack(ctx, []any{second[0]}); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 0 {
		t.Fatalf("%d rows left, want 0", n)
	}
}
