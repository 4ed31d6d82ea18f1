package postgres

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/swarm-go/swarm/kernel"
)

// TestAckByCtid: a handle whose hold has ended settles as a lease: the ack
// finds rows where the hold's conversion left them; a row that moved since
// (an Extend) is still acked, by id; a ctid now holding another row of the
// same attempt deletes nothing there; a stale handle neither settles nor
// waits for a row another hold has taken since. It runs on a table of the
// current layout and on the shared swarm_queue, whichever layout that has.
func TestAckByCtid(t *testing.T) {
	dsn := localServer(t)
	fresh := "swarm_ctid_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, table := range []string{fresh, "swarm_queue"} {
		t.Run(table, func(t *testing.T) {
			queue := "st-ctid-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			b, err := New(queue, WithDSN(dsn), WithTable(table))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			d, ctx := b.d, context.Background()
			if table == fresh {
				defer d.pool.Exec(ctx, `DROP TABLE `+pgx.Identifier{fresh}.Sanitize())
			}
			left := func() []string { t.Helper(); return rowsLeft(t, d, queue) }
			take := func(ids ...string) []handle {
				t.Helper()
				batch := make([]kernel.Envelope, len(ids))
				for i, id := range ids {
					batch[i] = kernel.Envelope{Category: "c", ID: id, Payload: []byte(id)}
				}
				if errs := d.Send(ctx, batch); errs != nil {
					t.Fatal(errs[0])
				}
				envs := leased(t, d, 10)
				if len(envs) != len(ids) {
					t.Fatalf("took %d, want %v", len(envs), ids)
				}
				hs := make([]handle, len(envs))
				for i := range envs {
					hs[i] = *envs[i].Handle.(*handle)
				}
				return hs
			}

			// Fresh handles: all found by ctid, none left for the fallback.
			hs := take("a1", "a2")
			if missed, err := d.ackByCtid(ctx, []*handle{&hs[0], &hs[1]}); err != nil || len(missed) != 0 {
				t.Fatalf("ack by ctid missed %d, %v", len(missed), err)
			}
			if l := left(); len(l) != 0 {
				t.Fatalf("left %v after the ack", l)
			}

			// b1's lease is extended between take and ack: its row moved.
			hs = take("b1", "b2")
			if err := d.Extend(ctx, []any{&hs[0]}, time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := d.Ack(ctx, []any{&hs[0], &hs[1]}); err != nil {
				t.Fatal(err)
			}
			if l := left(); len(l) != 0 {
				t.Fatalf("left %v: an ack after an Extend must still delete the row", l)
			}

			// A handle whose ctid now holds another row under the same
			// attempt (as when c1's old place is reused by c2) settles c1,
			// which it holds, and not c2.
			hs = take("c1", "c2")
			forged := hs[0]
			forged.ctid = hs[1].ctid
			if err := d.Ack(ctx, []any{&forged}); err != nil {
				t.Fatal(err)
			}
			if l := left(); len(l) != 1 || l[0] != "c2" {
				t.Fatalf("left %v, want [c2]: a ctid must not settle another id", l)
			}

			// A stale handle (redelivered since) settles nothing, by ctid
			// or by id.
			if err := d.Nack(ctx, []any{&hs[1]}, 0); err != nil {
				t.Fatal(err)
			}
			envs := received(t, d, 10)
			if len(envs) != 1 || envs[0].Attempt != 2 {
				t.Fatalf("redelivery: %d messages, want c2's second attempt", len(envs))
			}
			start := time.Now()
			if err := d.Ack(ctx, []any{&hs[1]}); err != nil {
				t.Fatal(err)
			}
			if l := left(); len(l) != 1 {
				t.Fatalf("left %v: a stale handle settled the message", l)
			}
			if waited := time.Since(start); waited > time.Second {
				t.Fatalf("a stale handle's ack took %v: it waited for the hold", waited)
			}
			if err := d.Ack(ctx, []any{envs[0].Handle}); err != nil {
				t.Fatal(err)
			}
			if l := left(); len(l) != 0 {
				t.Fatalf("left %v", l)
			}
		})
	}
}

// received receives until some messages arrive (the queue's NOTIFY
// subscription starts with the first Receive).
func received(t *testing.T, d *driver, max int) []kernel.Envelope {
	t.Helper()
	for range 50 {
		envs, err := d.Receive(context.Background(), max)
		if err != nil {
			t.Fatal(err)
		}
		if len(envs) > 0 {
			return envs
		}
	}
	t.Fatal("nothing received")
	return nil
}

// leased receives messages and ends their hold at once, as one open for
// holdFor ends: they then settle as leases.
func leased(t *testing.T, d *driver, max int) []kernel.Envelope {
	t.Helper()
	envs := received(t, d, max)
	h := envs[0].Handle.(*handle).hold
	h.expire()
	if !h.ended {
		t.Fatal("the hold did not end")
	}
	return envs
}

func TestIDBitmap(t *testing.T) {
	hs := []*handle{{id: 100}, {id: 107}, {id: 108}, {id: 103}}
	lo, bits := idBitmap(hs)
	if lo != 100 || len(bits) != 2 || bits[0] != 1|1<<3|1<<7 || bits[1] != 1 {
		t.Errorf("idBitmap = %d %08b", lo, bits)
	}
	if _, bits := idBitmap([]*handle{{id: 1}, {id: 1 + maxIDSpan}}); bits != nil {
		t.Errorf("a span over maxIDSpan got a bitmap of %d bytes", len(bits))
	}
}
