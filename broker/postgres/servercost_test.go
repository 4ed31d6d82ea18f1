package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/swarm-go/swarm/kernel"
)

// TestServerCost measures what the server spends per 1,000 messages on a
// send, a take and an ack: the CPU time of the pool's two backends (their
// /proc schedstat, so the server must run on this host), the WAL written and
// the wall time. It compares a hold (rows locked in a transaction, acked
// inside it) with the lease a hold converts to (each row's attempt and
// visible_at written, acked by ctid afterwards), interleaved batch by batch
// so that a loaded host weighs on both alike. Run it with the number of
// 1,000-message rounds:
//
//	SWARM_PG_SERVERCOST=200 go test -run TestServerCost -v .
func TestServerCost(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("SWARM_PG_SERVERCOST"))
	if rounds <= 0 {
		t.Skip("set SWARM_PG_SERVERCOST to a number of rounds")
	}
	ctx := context.Background()
	type variant struct {
		name string
		d    *driver
		pids []int
		ns   [3]int64
		wal  [3]int64
		wall [3]time.Duration
	}
	vs := []*variant{{name: "hold"}, {name: "lease"}}
	for i, v := range vs {
		tn := "swarm_cost_" + strconv.Itoa(i)
		tb, _ := parseTable(tn)
		c2drop(t, tb.ident)
		b, err := New("q", WithDSN(DefaultDSN), WithTable(tn), WithMaxConns(2))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		defer c2drop(t, tb.ident)
		v.d = b.d
		var conns []*pgxpool.Conn
		for range 2 {
			c, err := v.d.pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var pid int
			if err := c.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				t.Fatal(err)
			}
			v.pids = append(v.pids, pid)
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Release()
		}
	}
	cpu := func(pids []int) (n int64) {
		for _, pid := range pids {
			s, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
			if err != nil {
				t.Fatal(err)
			}
			ns, _ := strconv.ParseInt(strings.Fields(string(s))[0], 10, 64)
			n += ns
		}
		return n
	}
	lsn := func(d *driver) int64 {
		var n int64
		if err := d.pool.QueryRow(ctx, `SELECT pg_current_wal_lsn() - '0/0'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	batch := make([]kernel.Envelope, 1000)
	for i := range batch {
		batch[i] = kernel.Envelope{Category: "c", ID: strconv.Itoa(i), Payload: make([]byte, 100)}
	}
	phase := func(v *variant, k int, f func()) {
		w0, c0, t0 := lsn(v.d), cpu(v.pids), time.Now()
		f()
		v.wall[k] += time.Since(t0)
		v.ns[k] += cpu(v.pids) - c0
		v.wal[k] += lsn(v.d) - w0
	}
	for r := range rounds {
		for _, v := range vs {
			d := v.d
			// a backlog of 20 batches, then take and ack one at a time
			if r%20 == 0 {
				for range 20 {
					phase(v, 0, func() {
						if errs := d.Send(ctx, batch); errs != nil {
							t.Fatal(errs[0])
						}
					})
				}
			}
			var envs []kernel.Envelope
			phase(v, 1, func() {
				envs = received(t, d, 1000)
				if len(envs) != 1000 {
					t.Fatal(len(envs))
				}
				if v.name == "lease" {
					envs[0].Handle.(*handle).hold.expire()
				}
			})
			hs := make([]any, len(envs))
			for i := range envs {
				hs[i] = envs[i].Handle
			}
			phase(v, 2, func() {
				if err := d.Ack(ctx, hs); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	n := int64(rounds) * 1000
	for _, v := range vs {
		t.Logf("%-6s server µs/1000: send %6.0f take %6.0f ack %6.0f | WAL B/msg: send %4d take %4d ack %4d | wall µs/1000: send %6d take %6d ack %6d",
			v.name, float64(v.ns[0])/float64(n), float64(v.ns[1])/float64(n), float64(v.ns[2])/float64(n),
			v.wal[0]/n, v.wal[1]/n, v.wal[2]/n, v.wall[0].Microseconds()*1000/n, v.wall[1].Microseconds()*1000/n, v.wall[2].Microseconds()*1000/n)
	}
}

// c2drop drops tables the measurement created.
func c2drop(t *testing.T, idents ...string) {
	c, err := pgx.Connect(context.Background(), DefaultDSN)
	if err != nil {
		t.Log(err)
		return
	}
	defer c.Close(context.Background())
	for _, ident := range idents {
		_, _ = c.Exec(context.Background(), `DROP TABLE IF EXISTS `+ident)
	}
}
