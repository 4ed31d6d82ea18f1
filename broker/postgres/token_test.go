package postgres

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/swarm-go/swarm/kernel"
)

// TestStaleHandle: a handle from an earlier delivery (its lease gone, the
// message delivered again) settles nothing; the current one does.
func TestStaleHandle(t *testing.T) {
	const dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	if c, err := net.DialTimeout("tcp", "127.0.0.1:5432", time.Second); err != nil {
		t.Skipf("skipped, unavailable here: PostgreSQL: %v", err)
	} else {
		c.Close()
	}
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
}
