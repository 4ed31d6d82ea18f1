package postgres

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/swarm-go/swarm/kernel"
)

// TestAsyncSettleIsLocal: a hold's commit and the settlements outside one
// run with synchronous_commit off (and the take with the generic plan)
// inside their own transaction only. The setting must not stay on the
// pooled connection, or the next send on it would be acknowledged before it
// is durable.
func TestAsyncSettleIsLocal(t *testing.T) {
	dsn := localServer(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2 // the least a broker takes; both are checked below
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	settings := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}) (sync, plan string) {
		t.Helper()
		if err := q.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), current_setting('plan_cache_mode')`).Scan(&sync, &plan); err != nil {
			t.Fatal(err)
		}
		return sync, plan
	}
	wantSync, wantPlan := settings(pool)
	// every connection of the pool, held at once so that each is another
	checkAll := func(when string) {
		t.Helper()
		var conns []*pgxpool.Conn
		for range cfg.MaxConns {
			c, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			if s, p := settings(c); s != wantSync || p != wantPlan {
				t.Errorf("%s: synchronous_commit=%s plan_cache_mode=%s, want %s %s", when, s, p, wantSync, wantPlan)
			}
			c.Release()
		}
	}
	if wantSync == "off" || wantPlan == "force_generic_plan" {
		t.Skipf("the server's defaults are already synchronous_commit=%s plan_cache_mode=%s", wantSync, wantPlan)
	}

	// Inside a pipelined batch, the settings hold for the statements after
	// them (so for the transaction's commit too).
	b := &pgx.Batch{}
	b.Queue(settleAsyncGeneric)
	var sync, plan string
	b.Queue(`SELECT current_setting('synchronous_commit'), current_setting('plan_cache_mode')`).QueryRow(func(r pgx.Row) error {
		return r.Scan(&sync, &plan)
	})
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	if sync != "off" || plan != "force_generic_plan" {
		t.Fatalf("in the batch: synchronous_commit=%s plan_cache_mode=%s", sync, plan)
	}
	checkAll("after the batch")

	// And through the driver: a hold acked, and a hold ended early whose
	// handle is then extended and acked, leave the connections as they
	// found them.
	queue := "st-commit-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	q, err := New(queue, WithPool(pool))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	d := q.d
	for _, end := range []bool{false, true} {
		if errs := d.Send(ctx, []kernel.Envelope{{Category: "c", ID: "m1", Payload: []byte("x")}}); errs != nil {
			t.Fatal(errs[0])
		}
		envs := received(t, d, 10)
		if end {
			envs[0].Handle.(*handle).hold.expire()
		}
		if err := d.Extend(ctx, []any{envs[0].Handle}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := d.Ack(ctx, []any{envs[0].Handle}); err != nil {
			t.Fatal(err)
		}
		checkAll(fmt.Sprintf("after receive and ack (hold ended early: %v)", end))
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM swarm_queue WHERE queue = $1`, queue).Scan(&n); err != nil || n != 0 {
		t.Fatalf("ack left %d rows (%v)", n, err)
	}
}
