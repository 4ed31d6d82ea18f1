package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/postgres"
	"github.com/swarm-go/swarm/swarmtest"
)

// sharedAddr is the shared development server (trust auth, database test).
const (
	sharedAddr = "127.0.0.1:5432"
	sharedDSN  = "postgres://postgres@" + sharedAddr + "/test?sslmode=disable"
)

func openShared(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
	return postgres.New(queue, postgres.WithDSN(sharedDSN), postgres.WithMaxPayload(64<<10),
		postgres.WithKernel(opts...))
}

func TestConformance(t *testing.T) {
	swarmtest.RequireTCP(t, "PostgreSQL", sharedAddr)
	swarmtest.Run(t, swarmtest.Config{
		Open: openShared,
		// Dead letters are rows of the queue "<queue>.dlq" in the same table.
		OpenDeadLetters: func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return openShared(t, queue+".dlq", opts...)
		},
	})
}

// TestMain keeps the shared table tidy: rows the suite's queues left behind
// (dead letters, unknown categories) are removed once they are old.
func TestMain(m *testing.M) {
	code := m.Run()
	if pool, err := pgxpool.New(context.Background(), sharedDSN); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = pool.Exec(ctx, `DELETE FROM swarm_queue WHERE created_at < now() - interval '10 minutes'
			AND (queue LIKE 'st-%' OR queue LIKE 'outbox-%' OR queue LIKE 'url-%')`)
		cancel()
		pool.Close()
	}
	os.Exit(code)
}
