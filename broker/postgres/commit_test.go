package postgres

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/swarm-go/swarm/kernel"
)

// TestAsyncSettleIsLocal: the take and the ack run with synchronous_commit
// off (and the take with the generic plan) inside their own transaction
// only. The setting must not stay on the pooled connection, or the next
// send on it would be acknowledged before it is durable.
func TestAsyncSettleIsLocal(t *testing.T) {
	dsn := localServer(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // every statement below runs on the same connection
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
	if wantSync == "off" || wantPlan == "force_generic_plan" {
		t.Skipf("the server's defaults are already synchronous_commit=%s plan_cache_mode=%s", wantSync, wantPlan)
	}

	// Inside a pipelined batch, the settings hold for the statements after
	// them (so for the transaction's commit too).
	b := &pgx.Batch{}
	b.Queue(takeAsync)
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
	if s, p := settings(pool); s != wantSync || p != wantPlan {
		t.Fatalf("after the batch: synchronous_commit=%s plan_cache_mode=%s, want %s %s", s, p, wantSync, wantPlan)
	}

	// And through the driver: receive, extend and ack leave the connection
	// as they found it.
	queue := "st-commit-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	q, err := New(queue, WithPool(pool))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	d := q.d
	if errs := d.Send(ctx, []kernel.Envelope{{Category: "c", ID: "m1", Payload: []byte("x")}}); errs != nil {
		t.Fatal(errs[0])
	}
	envs, err := d.takeBatch(ctx, 10)
	if err != nil || len(envs) != 1 {
		t.Fatalf("take: %d messages, %v", len(envs), err)
	}
	if err := d.Extend(ctx, []any{envs[0].Handle}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx, []any{envs[0].Handle}); err != nil {
		t.Fatal(err)
	}
	if s, p := settings(pool); s != wantSync || p != wantPlan {
		t.Fatalf("after receive and ack: synchronous_commit=%s plan_cache_mode=%s, want %s %s", s, p, wantSync, wantPlan)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM swarm_queue WHERE queue = $1`, queue).Scan(&n); err != nil || n != 0 {
		t.Fatalf("ack left %d rows (%v)", n, err)
	}
}
