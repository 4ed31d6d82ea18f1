package contender

import (
	"context"
	"fmt"
	"strconv"
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
	setup := func() (func(), error) { return requireTCP("PostgreSQL", "127.0.0.1:5432") }
	register(func(int) Broker {
		return Broker{Name: "postgres", Order: 50, Raw: PostgresRaw, Swarm: PostgresSwarm, Watermill: PostgresWatermill,
			Setup: setup}
	})
	// The same raw client writing and reading the row swarm writes: what
	// a message carries, told apart from what the library costs.
	register(func(int) Broker {
		return Broker{Name: "postgres, raw with swarm's row", Order: 51, Raw: PostgresRawEnvelope, Swarm: PostgresSwarm,
			Setup: setup}
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
	t := pgTable("bench_raw_", queue)
	ident := pgx.Identifier{t}.Sanitize()
	return openPgRaw(t, `CREATE TABLE `+ident+` (id bigserial PRIMARY KEY, payload bytea NOT NULL)`, pgShape{
		columns: []string{"payload"},
		row:     func(_ int, payload []byte) []any { return []any{payload} },
		take:    `SELECT id, payload FROM ` + ident + ` ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
		del:     `DELETE FROM ` + ident + ` WHERE id = ANY($1)`,
		dests:   func(r *pgRow) []any { return []any{&r.id, &r.payload} },
	})
}

// PostgresRawEnvelope is PostgresRaw on swarm's table (postgres.Schema):
// each row carries what swarm's does (queue, category, message id, no
// attributes, the payload; the attempt and the two timestamps by default),
// the take reads what swarm's take reads, and both find their rows by
// (queue, id), the table's key.
func PostgresRawEnvelope(queue string) (workload.Contender, error) {
	t := pgTable("bench_rawenv_", queue)
	ident := pgx.Identifier{t}.Sanitize()
	ddl, err := postgres.Schema(t)
	if err != nil {
		return nil, err
	}
	const idPrefix = "0123456789abcdef-" // as long as the kernel's
	return openPgRaw(t, ddl, pgShape{
		columns: []string{"queue", "category", "msg_id", "attrs", "payload"},
		row: func(i int, payload []byte) []any {
			return []any{queue, "Payload", idPrefix + strconv.FormatInt(int64(i), 36), nil, payload}
		},
		take: `SELECT id, queue, category, msg_id, attrs, payload, attempt, created_at FROM ` + ident +
			` WHERE queue = $2 ORDER BY queue, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
		del:  `DELETE FROM ` + ident + ` WHERE queue = $2 AND id = ANY($1)`,
		args: []any{queue},
		dests: func(r *pgRow) []any {
			return []any{&r.id, &r.queue, &r.category, &r.msgID, &r.attrs, &r.payload, &r.attempt, &r.created}
		},
	})
}

// pgShape is the row a raw contender writes and how it takes rows back.
type pgShape struct {
	columns   []string                          // COPY's columns
	row       func(i int, payload []byte) []any // message i's COPY row
	take, del string                            // $1: the batch size, the ids
	args      []any                             // $2 and on, of both
	dests     func(*pgRow) []any                // take's columns, scanned
}

// pgRow is a row taken, every column either shape reads.
type pgRow struct {
	id                     int64
	payload, attrs         []byte
	queue, category, msgID string
	attempt                int32
	created                time.Time
}

// openPgRaw creates table with ddl and returns the raw contender of shape on it.
func openPgRaw(table, ddl string, shape pgShape) (workload.Contender, error) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, postgres.DefaultDSN)
	if err != nil {
		return nil, fmt.Errorf("postgres raw: %w", err)
	}
	if _, err := pool.Exec(ctx, ddl); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres raw: create table %s: %w", table, err)
	}
	return &pgRaw{pool: pool, table: table, shape: shape}, nil
}

type pgRaw struct {
	pool  *pgxpool.Pool
	table string
	shape pgShape
}

func (r *pgRaw) Publish(ctx context.Context, n int, msg func(int) workload.Payload) error {
	rows := make([][]any, 0, pgBatch)
	for sent := 0; sent < n; sent += len(rows) {
		rows = rows[:0]
		for i := sent; i < min(sent+pgBatch, n); i++ {
			rows = append(rows, r.shape.row(i, workload.Encode(msg(i))))
		}
		if _, err := r.pool.CopyFrom(ctx, pgx.Identifier{r.table}, r.shape.columns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("postgres raw: COPY into %s: %w", r.table, err)
		}
	}
	return nil
}

func (r *pgRaw) Consume(ctx context.Context, n int, got func(workload.Payload)) error {
	ids := make([]int64, 0, pgBatch)
	var row pgRow
	dests := r.shape.dests(&row)
	for done := 0; done < n; {
		ids = ids[:0]
		err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, r.shape.take, append([]any{pgBatch}, r.shape.args...)...)
			if err != nil {
				return err
			}
			if _, err := pgx.ForEachRow(rows, dests, func() error {
				p, err := workload.Decode(row.payload)
				if err != nil {
					return err
				}
				got(p)
				ids = append(ids, row.id)
				return nil
			}); err != nil {
				return err
			}
			if len(ids) == 0 {
				return nil
			}
			_, err = tx.Exec(ctx, r.shape.del, append([]any{ids}, r.shape.args...)...)
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
