package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/swarm-go/swarm/kernel"
)

// TestHoldFailureCounts: a hold whose connection dies (a consumer crash)
// returns its rows at once, and the next take counts the failed delivery in
// the attempt, writes it, and keeps counting through a release and a
// second failure.
func TestHoldFailureCounts(t *testing.T) {
	d, queue := openFresh(t, "st-hold-")
	ctx := context.Background()
	if errs := d.Send(ctx, []kernel.Envelope{{Category: "c", ID: "m1", Payload: []byte("x")}}); errs != nil {
		t.Fatal(errs[0])
	}
	kill := func(h *handle) {
		t.Helper()
		pid := h.hold.conn.Conn().PgConn().PID()
		var ok bool
		if err := d.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
			t.Fatalf("terminate backend %d: %v %v", pid, ok, err)
		}
	}
	stored := func() (n int) {
		t.Helper()
		if err := d.pool.QueryRow(ctx, `SELECT attempt FROM swarm_queue WHERE queue = $1`, queue).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	take := func(want int) *handle {
		t.Helper()
		envs := received(t, d, 10)
		if len(envs) != 1 || envs[0].Attempt != want {
			t.Fatalf("received %d messages, attempt %d; want m1 at attempt %d", len(envs), envs[0].Attempt, want)
		}
		return envs[0].Handle.(*handle)
	}

	h1 := take(1)
	if h1.hold.ended || stored() != 0 {
		t.Fatalf("a first delivery should be held, the row unwritten (attempt %d)", stored())
	}
	kill(h1)
	if err := d.Ack(ctx, []any{h1}); err == nil {
		t.Fatal("an ack on a dead connection reported no error")
	}
	h2 := take(2)
	if !h2.hold.ended || stored() != 2 {
		t.Fatalf("after a failure: hold ended %v, stored attempt %d; want the attempt written (2)", h2.hold.ended, stored())
	}
	if err := d.Nack(ctx, []any{h2}, 0); err != nil {
		t.Fatal(err)
	}
	h3 := take(3)
	kill(h3)
	h4 := take(4)
	if err := d.Ack(ctx, []any{h4}); err != nil {
		t.Fatal(err)
	}
	if left := rowsLeft(t, d, queue); len(left) != 0 {
		t.Fatalf("rows left %v", left)
	}
}

// TestHoldSlots: a pool of two connections keeps one hold open at a time;
// a receive meanwhile finds no slot and returns nothing; settling the hold
// frees it.
func TestHoldSlots(t *testing.T) {
	d, queue := openFresh(t, "st-slots-", WithMaxConns(2))
	ctx := context.Background()
	if errs := d.Send(ctx, []kernel.Envelope{{Category: "c", ID: "m1"}, {Category: "c", ID: "m2"}}); errs != nil {
		t.Fatal(errs[0])
	}
	first := received(t, d, 1)
	if envs, err := d.Receive(ctx, 1); err != nil || len(envs) != 0 {
		t.Fatalf("a second hold on a pool of two: %d messages, %v", len(envs), err)
	}
	if err := d.Ack(ctx, []any{first[0].Handle}); err != nil {
		t.Fatal(err)
	}
	second := received(t, d, 1)
	if second[0].ID != "m2" {
		t.Fatalf("received %s, want m2", second[0].ID)
	}
	if err := d.Ack(ctx, []any{second[0].Handle}); err != nil {
		t.Fatal(err)
	}
	if left := rowsLeft(t, d, queue); len(left) != 0 {
		t.Fatalf("rows left %v", left)
	}
}

// TestSendWakesReceiver: a receiver waiting on an empty queue is woken by
// the notification that follows a send (from another broker, so through
// the server), well before its poll (one second by default) would find the
// message.
func TestSendWakesReceiver(t *testing.T) {
	r, queue := openFresh(t, "st-wake-")
	sb, err := New(queue, WithDSN(DefaultDSN))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ctx := context.Background()
	if envs, err := r.Receive(ctx, 10); err != nil || len(envs) != 0 { // subscribes, waits out one poll
		t.Fatalf("empty queue: %d messages, %v", len(envs), err)
	}
	got := make(chan time.Time, 1)
	go func() {
		for {
			envs, err := r.Receive(ctx, 10)
			if err != nil || len(envs) > 0 {
				got <- time.Now()
				if err == nil {
					_ = r.Ack(ctx, []any{envs[0].Handle})
				}
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // the receiver is waiting
	sent := time.Now()
	if errs := sb.d.Send(ctx, []kernel.Envelope{{Category: "c", ID: "m1"}}); errs != nil {
		t.Fatal(errs[0])
	}
	select {
	case at := <-got:
		if d := at.Sub(sent); d > 400*time.Millisecond {
			t.Fatalf("received %v after the send: woken by the poll, not the notification", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
	}
}

// TestAckAcrossHolds: an ack of deliveries of two holds settles the second
// though the first's connection died, and reports the failure.
func TestAckAcrossHolds(t *testing.T) {
	d, queue := openFresh(t, "st-across-")
	ctx := context.Background()
	if errs := d.Send(ctx, []kernel.Envelope{{Category: "c", ID: "m1"}, {Category: "c", ID: "m2"}}); errs != nil {
		t.Fatal(errs[0])
	}
	first, second := received(t, d, 1)[0].Handle.(*handle), received(t, d, 1)[0].Handle.(*handle)
	if first.hold == second.hold {
		t.Fatal("two receives shared a hold")
	}
	var ok bool
	if err := d.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, first.hold.conn.Conn().PgConn().PID()).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate: %v %v", ok, err)
	}
	if err := d.Ack(ctx, []any{first, second}); err == nil {
		t.Fatal("no error for the hold whose connection died")
	}
	if left := rowsLeft(t, d, queue); len(left) != 1 || left[0] != "m1" {
		t.Fatalf("rows left %v, want [m1]: the second hold's ack must commit", left)
	}
}
