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
	"github.com/swarm-go/swarm/kernel"
)

// TestServerCost measures what the server spends per 1,000 messages on a
// send, a take and an ack: the CPU time of the pool's one backend (its
// /proc schedstat, so the server must run on this host), the WAL written and
// the wall time. It compares the table layouts and acks, interleaved batch
// by batch so that a loaded host weighs on all alike: the earlier layout (id
// primary key plus a (queue, id) index) acked by id as before, the same
// acked by ctid, and the current layout (primary key (queue, id)) acked by
// (queue, id) or by ctid. Run it with the number of 1,000-message rounds:
//
//	SWARM_PG_SERVERCOST=200 go test -run TestServerCost -v .
func TestServerCost(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("SWARM_PG_SERVERCOST"))
	if rounds <= 0 {
		t.Skip("set SWARM_PG_SERVERCOST to a number of rounds")
	}
	ctx := context.Background()
	type variant struct {
		name, schema, ack string
		d                 *driver
		pid               int
		ns                [3]int64
		wal               [3]int64
		wall              [3]time.Duration
	}
	vs := []*variant{{name: "old+id", schema: "old", ack: "id"}, {name: "old+ctid", schema: "old", ack: "ctid"},
		{name: "pk+id", schema: "pk", ack: "idq"}, {name: "pk+ctid", schema: "pk", ack: "ctid"}}
	for i, v := range vs {
		tn := "swarm_cost_" + strconv.Itoa(i)
		tb, _ := parseTable(tn)
		c, err := pgx.Connect(ctx, DefaultDSN)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Exec(ctx, `DROP TABLE IF EXISTS `+tb.ident)
		ddl := tb.ddl()
		if v.schema == "old" {
			ddl = strings.Replace(ddl, "bigserial   NOT NULL", "bigserial   PRIMARY KEY", 1)
			ddl = strings.Replace(ddl, ",\n\tCONSTRAINT "+tb.local+" PRIMARY KEY (queue, id)", "", 1)
		}
		if _, err := c.Exec(ctx, ddl); err != nil {
			t.Fatal(err)
		}
		c.Close(ctx)
		b, err := New("q", WithDSN(DefaultDSN), WithTable(tn), WithMaxConns(1))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		defer c2drop(t, tb.ident)
		v.d = b.d
		if err := v.d.pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&v.pid); err != nil {
			t.Fatal(err)
		}
	}
	cpu := func(pid int) int64 {
		s, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(strings.Fields(string(s))[0], 10, 64)
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
		w0, c0, t0 := lsn(v.d), cpu(v.pid), time.Now()
		f()
		v.wall[k] += time.Since(t0)
		v.ns[k] += cpu(v.pid) - c0
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
				var err error
				if envs, err = d.takeBatch(ctx, 1000); err != nil || len(envs) != 1000 {
					t.Fatal(len(envs), err)
				}
			})
			hs := make([]any, len(envs))
			for i := range envs {
				hs[i] = envs[i].Handle
			}
			phase(v, 2, func() {
				switch v.ack {
				case "ctid":
					if err := d.Ack(ctx, hs); err != nil {
						t.Fatal(err)
					}
				case "id", "idq":
					h := held(hs)
					b := &pgx.Batch{}
					if v.ack == "idq" { // the fallback of Ack
						b.Queue(settleAsyncGeneric)
						b.Queue(d.ackByID, ids(h), h[0].attempt, d.queue)
					} else { // the ack before ctids, by the earlier id key
						b.Queue(settleAsync)
						b.Queue(`DELETE FROM `+pgx.Identifier(d.table).Sanitize()+` WHERE id = ANY($1::bigint[]) AND attempt = $2`, ids(h), h[0].attempt)
					}
					if err := d.exec(ctx, b); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
	n := int64(rounds) * 1000
	for _, v := range vs {
		t.Logf("%-9s server µs/1000: send %6.0f take %6.0f ack %6.0f | WAL B/msg: send %4d take %4d ack %4d | wall µs/1000: send %6d take %6d ack %6d",
			v.name, float64(v.ns[0])/float64(n), float64(v.ns[1])/float64(n), float64(v.ns[2])/float64(n),
			v.wal[0]/n, v.wal[1]/n, v.wal[2]/n, v.wall[0].Microseconds()*1000/n, v.wall[1].Microseconds()*1000/n, v.wall[2].Microseconds()*1000/n)
	}
}

// c2drop drops a table the measurement created.
func c2drop(t *testing.T, ident string) {
	c, err := pgx.Connect(context.Background(), DefaultDSN)
	if err != nil {
		t.Log(err)
		return
	}
	defer c.Close(context.Background())
	_, _ = c.Exec(context.Background(), `DROP TABLE IF EXISTS `+ident)
}
