package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/swarm-go/swarm"
)

// maxIdent is the longest identifier PostgreSQL keeps (NAMEDATALEN-1); longer
// ones are truncated by LISTEN but refused by pg_notify, so channel names
// must fit.
const maxIdent = 63

// table is a parsed, quoted table name.
type table struct {
	name  string         // as given, for errors
	parts pgx.Identifier // unquoted parts, for COPY
	ident string         // quoted, schema-qualified when given so
	index string         // quoted index name, qualified like the table
	local string         // quoted index name alone, for the DDL
}

// parseTable splits "schema.table" or "table" and quotes the parts, so any
// name is safe to splice into SQL.
func parseTable(name string) (table, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return table{}, fmt.Errorf("%w: postgres: WithTable(%q): want table or schema.table", swarm.ErrConfig, name)
	}
	for _, p := range parts {
		if p == "" || len(p) > maxIdent {
			return table{}, fmt.Errorf("%w: postgres: WithTable(%q): each part must be 1 to %d bytes", swarm.ErrConfig, name, maxIdent)
		}
	}
	idx := parts[len(parts)-1] + "_queue_id_idx"
	if len(idx) > maxIdent {
		idx = "swarm_" + shortHash(name) + "_idx"
	}
	ix := append(parts[:len(parts)-1:len(parts)-1], idx)
	return table{
		name:  name,
		parts: pgx.Identifier(parts),
		ident: pgx.Identifier(parts).Sanitize(),
		index: pgx.Identifier(ix).Sanitize(),
		local: pgx.Identifier{idx}.Sanitize(),
	}, nil
}

// Schema returns the DDL that creates the queue table name with its index,
// for migrations run outside the broker (see WithCreateTable). It fails with
// swarm.ErrConfig when the name is invalid.
func Schema(name string) (string, error) {
	t, err := parseTable(name)
	if err != nil {
		return "", err
	}
	return t.ddl(), nil
}

// ddl: one row per message. visible_at is the lease (and the delay): a row is
// deliverable once it has passed. attempt counts deliveries and doubles as
// the lease token of a handle. Dead letters are rows of the queue
// "<queue>.dlq".
//
// The one index is the primary key (queue, id): it serves the FIFO scan of
// a queue, and the statements that find rows by id name their queue. A
// second index on id alone would make each send write two index entries per
// row (WAL per 100-byte row 307 against 241 bytes, the COPY's server CPU a
// fifth more); the ack, which did use it, finds its rows by ctid instead
// (see Ack). Tables created with the earlier layout (id PRIMARY KEY, and an
// index of this name on (queue, id)) serve the same statements unchanged;
// the CREATE INDEX restores that index where it is missing, and does nothing
// where the key holds the name.
//
// Pages are filled (the default fillfactor): a take locks rows and
// rewrites none (see hold). Tables created with fillfactor 50, which left
// room for every take's lease update to be a HOT one, keep it; it doubled
// the pages a 1 KiB send writes.
func (t table) ddl() string {
	return `CREATE TABLE IF NOT EXISTS ` + t.ident + ` (
	id         bigserial   NOT NULL,
	queue      text        NOT NULL,
	category   text        NOT NULL,
	msg_id     text        NOT NULL,
	attrs      jsonb,
	payload    bytea       NOT NULL,
	attempt    integer     NOT NULL DEFAULT 0,
	visible_at timestamptz NOT NULL DEFAULT now(),
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT ` + t.local + ` PRIMARY KEY (queue, id)
);
CREATE INDEX IF NOT EXISTS ` + t.local + ` ON ` + t.ident + ` (queue, id);
`
}

// ensureTable creates the table and index when absent. It looks first (for
// the index of either layout), because CREATE INDEX IF NOT EXISTS takes a
// lock that waits for writers even when the index exists; an advisory lock
// serialises brokers creating it at once (concurrent CREATE TABLE IF NOT
// EXISTS can fail on the catalog).
func ensureTable(ctx context.Context, pool *pgxpool.Pool, t table) error {
	exists := func(q pgx.Row) (bool, error) {
		var tbl, idx *string
		if err := q.Scan(&tbl, &idx); err != nil {
			return false, err
		}
		return tbl != nil && idx != nil, nil
	}
	const look = `SELECT to_regclass($1)::text, to_regclass($2)::text`
	ok, err := exists(pool.QueryRow(ctx, look, t.ident, t.index))
	if err != nil || ok {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('swarm-ddl:' || $1))`, t.ident); err != nil {
			return err
		}
		if ok, err := exists(tx.QueryRow(ctx, look, t.ident, t.index)); err != nil || ok {
			return err
		}
		_, err := tx.Exec(ctx, t.ddl())
		return err
	})
}

// channelName is the default NOTIFY channel of a queue: readable when it
// fits in an identifier, hashed when not.
func channelName(t table, queue string) string {
	name := "swarm:" + t.name + ":" + queue
	if len(name) <= maxIdent {
		return name
	}
	return "swarm:" + shortHash(t.name+"\x00"+queue)
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}
