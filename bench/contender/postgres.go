package contender

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/swarm-go/swarm/bench/workload"
	"github.com/swarm-go/swarm/broker/postgres"
)

// pgBatch is the rows per COPY and per SELECT ... FOR UPDATE SKIP LOCKED of
// the raw side.
const pgBatch = 1000

// pgPoll is how long the raw and Watermill consumers wait after finding
// the table empty (swarm is woken by NOTIFY).
const pgPoll = 5 * time.Millisecond

func init() {
	register(func(int) Broker {
		return Broker{Name: "postgres", Order: 50, Raw: PostgresRaw, Swarm: PostgresSwarm, Watermill: PostgresWatermill,
			Setup: func() (func(), error) { return requireTCP("PostgreSQL", "127.0.0.1:5432") }}
	})
}

// pgTable turns a queue name into a table name of the run.
func pgTable(prefix, queue string) string {
	return prefix + strings.NewReplacer("-", "_", ".", "_").Replace(queue)
}

// pgDrop drops tables a run created.
func pgDrop(tables ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, postgres.DefaultDSN)
	if err != nil {
		return
	}
	defer c.Close(ctx)
	for _, t := range tables {
		_, _ = c.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{t}.Sanitize())
	}
}

// PostgresRaw is pgx used as a queue the common way: a table of its own,
// COPY of 1000 rows per statement, and consumers taking 1000 rows at a
// time with SELECT ... ORDER BY id FOR UPDATE SKIP LOCKED, deleting them
// in the same transaction once handled (so a crash redelivers them).
func PostgresRaw(queue string) (workload.Contender, error) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, postgres.DefaultDSN)
	if err != nil {
		return nil, fmt.Errorf("postgres raw: %w", err)
	}
	t := pgTable("bench_raw_", queue)
	ident := pgx.Identifier{t}.Sanitize()
	if _, err := pool.Exec(ctx, `CREATE TABLE `+ident+` (id bigserial PRIMARY KEY, payload bytea NOT NULL)`); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres raw: create table %s: %w", t, err)
	}
	return &pgRaw{pool: pool, table: t, take: `SELECT id, payload FROM ` + ident + ` ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
		del: `DELETE FROM ` + ident + ` WHERE id = ANY($1)`}, nil
}

type pgRaw struct {
	pool      *pgxpool.Pool
	table     string
	take, del string
}

func (r *pgRaw) Publish(ctx context.Context, n int, msg func(int) workload.Payload) error {
	rows := make([][]any, 0, pgBatch)
	for sent := 0; sent < n; sent += len(rows) {
		rows = rows[:0]
		for i := sent; i < min(sent+pgBatch, n); i++ {
			rows = append(rows, []any{workload.Encode(msg(i))})
		}
		if _, err := r.pool.CopyFrom(ctx, pgx.Identifier{r.table}, []string{"payload"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("postgres raw: COPY into %s: %w", r.table, err)
		}
	}
	return nil
}

func (r *pgRaw) Consume(ctx context.Context, n int, got func(workload.Payload)) error {
	ids := make([]int64, 0, pgBatch)
	for done := 0; done < n; {
		ids = ids[:0]
		err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, r.take, pgBatch)
			if err != nil {
				return err
			}
			var id int64
			var payload []byte
			if _, err := pgx.ForEachRow(rows, []any{&id, &payload}, func() error {
				p, err := workload.Decode(payload)
				if err != nil {
					return err
				}
				got(p)
				ids = append(ids, id)
				return nil
			}); err != nil {
				return err
			}
			if len(ids) == 0 {
				return nil
			}
			_, err = tx.Exec(ctx, r.del, ids)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres raw: take from %s: %w", r.table, err)
		}
		done += len(ids)
		if len(ids) == 0 {
			select {
			case <-time.After(pgPoll):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

func (r *pgRaw) Close() error {
	r.pool.Close()
	pgDrop(r.table)
	return nil
}

// PostgresSwarm is swarm's PostgreSQL broker with its defaults, on a table
// of the run.
func PostgresSwarm(queue string) (workload.Contender, error) {
	t := pgTable("bench_swarm_", queue)
	q, err := postgres.New(queue, postgres.WithTable(t))
	if err != nil {
		return nil, err
	}
	return withCleanup(NewSwarm(q), func() { pgDrop(t) }), nil
}

// PostgresWatermill is watermill-sql on a pgx pool: its queue schema (a
// table per topic, rows deleted on ack), batches of 100 per SELECT (its
// default), polling every pgPoll when empty (its default is 1s).
func PostgresWatermill(queue string) (workload.Contender, error) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, postgres.DefaultDSN)
	if err != nil {
		return nil, fmt.Errorf("postgres watermill: %w", err)
	}
	db := wsql.BeginnerFromPgx(pool)
	schema := wsql.PostgreSQLQueueSchema{}
	pub, err := wsql.NewPublisher(db, wsql.PublisherConfig{SchemaAdapter: schema, AutoInitializeSchema: true}, watermill.NopLogger{})
	if err != nil {
		pool.Close()
		return nil, err
	}
	sub, err := wsql.NewSubscriber(db, wsql.SubscriberConfig{SchemaAdapter: schema, InitializeSchema: true,
		OffsetsAdapter: wsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true}, PollInterval: pgPoll}, watermill.NopLogger{})
	if err != nil {
		pool.Close()
		return nil, err
	}
	topic := pgTable("", queue)
	if err := sub.SubscribeInitialize(topic); err != nil {
		pool.Close()
		return nil, err
	}
	return withCleanup(&Watermill{pub: pub, sub: sub, topic: topic}, func() {
		pool.Close()
		pgDrop("watermill_" + topic)
	}), nil
}
