package postgres

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/swarm-go/swarm/kernel"
)

// handle is the settlement token of one delivery: the row and the attempt
// it was delivered as. Every statement that settles matches both, so a
// consumer whose lease ran out (and whose message was delivered again, with
// a higher attempt) can no longer ack, nack or extend it.
type handle struct {
	id      int64
	attempt int32
	ctid    pgtype.TID // where the row is: the ack looks there first
	hold    *hold      // the transaction that holds the row while it lasts
	index   int32      // in hold.handles
	failed  bool       // the row's last locker did not commit (see hold)
}

// driver is the kernel's port onto one queue of a table.
type driver struct {
	pool       *pgxpool.Pool
	ownPool    bool
	queue, dlq string
	channel    string // NOTIFY channel of queue
	dlqChannel string // NOTIFY channel of dlq
	lease      time.Duration
	timeout    time.Duration
	pollWait   time.Duration
	maxPayload int
	listenKey  string          // hub of the queue's channel
	listenCfg  *pgx.ConnConfig // to connect the hub's LISTEN session
	subOnce    sync.Once
	sub        atomic.Pointer[subscriber] // set by the first Receive
	report     func(*kernel.Error)
	due        atomic.Int64  // unix nanos when a local delayed nack is due; 0: none
	slots      chan struct{} // of the pool's holds (see holdSlots)
	announcer  *announcer
	holds      struct {
		sync.Mutex
		m map[*hold]struct{}
	}
	scan scanner // where takes start

	table                      pgx.Identifier // for COPY
	boxedQueue                 any            // queue, in COPY's rows (see copyRows)
	insert, ack, ackByID, move string
	deadLetter                 string
	// A hold's statements (see hold).
	takeLocked, deleteHeld, leaseHeld, deadLetterHeld string
}

func newDriver(c *config, kcfg kernel.Config, t table, queue string, pool *pgxpool.Pool, own bool) *driver {
	d := &driver{
		pool:       pool,
		ownPool:    own,
		queue:      queue,
		dlq:        c.deadLetter,
		channel:    c.channel,
		dlqChannel: c.channel,
		lease:      kcfg.TimeToFlight,
		timeout:    c.timeout,
		pollWait:   min(max(kcfg.PollFrequency, 10*time.Millisecond), 5*time.Second),
		maxPayload: c.maxPayload,
		report:     func(*kernel.Error) {},
		table:      t.parts,
		boxedQueue: queue,
		slots:      slotsOf(pool),
	}
	d.scan.token = newToken()
	d.holds.m = map[*hold]struct{}{}
	d.announcer = newAnnouncer(d)
	if d.channel == "" {
		d.channel, d.dlqChannel = channelName(t, queue), channelName(t, d.dlq)
	}
	d.listenCfg = pool.Config().ConnConfig
	d.listenKey = location(&d.listenCfg.Config) + "\x00" + d.channel
	// The outbox's insert, in the application's transaction. Arrays keep a
	// batch to one statement and one plan whatever its size.
	d.insert = `INSERT INTO ` + t.ident + ` (queue, category, msg_id, attrs, payload)
SELECT $1, c, m, NULLIF(a, '')::jsonb, p
FROM unnest($2::text[], $3::text[], $4::text[], $5::bytea[]) WITH ORDINALITY AS x(c, m, a, p, n)
ORDER BY n`
	// The take locks the oldest visible rows of the queue after id $3 (see
	// scanner) in a hold's transaction (see hold). It is planned
	// generically, on the (queue, id) key read in order up to the limit
	// (see holdSettings): a queue table's statistics say little (new, or
	// churned since the last ANALYZE), and custom plans sorted the queue's
	// whole backlog.
	//
	// failed tells whether the row's last locker (xmax, as it was before
	// this lock) failed. xmax is a 32-bit transaction id: it is widened to
	// the 64 bits pg_xact_status takes from the epoch of this transaction's
	// id, the epoch before when it is higher than this id's low half (it
	// cannot be newer). Anything not older than this transaction (a
	// multixact id, which takes the same place) is not taken for a failure.
	d.takeLocked = `SELECT id, category, msg_id, attrs, payload, attempt, ctid,
	CASE WHEN xmax = '0'::xid THEN false ELSE coalesce((
		SELECT pg_xact_status(f::text::xid8) = 'aborted' FROM (
			SELECT (c >> 32 << 32) + x - CASE WHEN x > (c & 4294967295) THEN 4294967296 ELSE 0 END AS f, c
			FROM (SELECT xmax::text::bigint AS x, pg_current_xact_id()::text::bigint AS c) AS v
		) AS w WHERE f > 0 AND f < c), false) END
FROM ` + t.ident + `
WHERE queue = $1 AND id > $3 AND visible_at <= now()
ORDER BY id LIMIT $2
FOR UPDATE SKIP LOCKED`
	// Inside the hold, the rows are its own: found by ctid (a TID scan, no
	// index read), which cannot change while the lock is held.
	d.deleteHeld = `DELETE FROM ` + t.ident + ` WHERE ctid = ANY($1::tid[])`
	d.leaseHeld = `UPDATE ` + t.ident + ` SET attempt = $2, visible_at = $3 WHERE ctid = ANY($1::tid[]) RETURNING id, ctid`
	d.deadLetterHeld = deadLetterOf(t, `DELETE FROM `+t.ident+` WHERE ctid = ANY($1::tid[])`, `$2::int`)

	// Handles of ended holds settle as leases: by the token of id and
	// attempt, which a hold converting them wrote (see hold). They skip
	// rows locked by a hold: a row taken again since has its old attempt
	// number until that hold ends, and a stale handle must neither wait
	// for the hold nor settle the delivery it holds.
	//
	// The statements that find rows by id name the queue too: the primary
	// key of a table created since is (queue, id) (see table.ddl).
	byToken := `SELECT t.ctid FROM ` + t.ident + ` AS t JOIN unnest($1::bigint[], $2::int[]) AS h(id, attempt)
	ON t.queue = $4 AND t.id = h.id AND t.attempt = h.attempt FOR UPDATE OF t SKIP LOCKED`
	// The ack finds the rows by their ctids (a TID scan, no index read) and
	// checks their queue and ids (see Ack). Both tests sit in the CASE,
	// where the planner cannot turn them into an index scan: a custom plan
	// read the queue by its key instead, and every row of it (35 ms for
	// 1,000 acks of a 100,000-row queue). ackByID is the fallback for rows
	// that moved since.
	d.ack = `DELETE FROM ` + t.ident + ` WHERE ctid = ANY(ARRAY(SELECT ctid FROM ` + t.ident + `
WHERE ctid = ANY($1::tid[]) AND attempt = $2
AND CASE WHEN queue = $5 AND id - $3 BETWEEN 0 AND 8 * length($4::bytea) - 1
	THEN get_bit($4::bytea, (id - $3)::int) = 1 ELSE false END
FOR UPDATE SKIP LOCKED))`
	d.ackByID = `DELETE FROM ` + t.ident + ` WHERE ctid = ANY(ARRAY(SELECT ctid FROM ` + t.ident + `
WHERE queue = $3 AND id = ANY($1::bigint[]) AND attempt = $2 FOR UPDATE SKIP LOCKED))`
	d.move = `UPDATE ` + t.ident + ` SET visible_at = now() + $3 * interval '1 microsecond' WHERE ctid = ANY(ARRAY(` + byToken + `))`
	d.deadLetter = deadLetterOf(t, `DELETE FROM `+t.ident+` WHERE ctid = ANY(ARRAY(`+byToken+`))`, `attempt`)
	return d
}

// deadLetterOf is the statement that moves the rows del deletes to the
// dead-letter queue $3, noting attempt as their deliveries.
func deadLetterOf(t table, del, attempt string) string {
	return `WITH moved AS (
	` + del + `
	RETURNING id, queue, category, msg_id, attrs, payload, ` + attempt + ` AS attempt, created_at
)
INSERT INTO ` + t.ident + ` (queue, category, msg_id, attrs, payload, created_at)
SELECT $3, category, msg_id, coalesce(attrs, '{}') || jsonb_build_object(
	'` + AttrDeadLetterFrom + `', queue, '` + AttrDeadLetterAttempts + `', attempt::text,
	'` + AttrDeadLetterAt + `', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
	payload, created_at
FROM moved ORDER BY id`
}

const notify = `SELECT pg_notify($1, $2)`

// Attributes a dead letter gets beside its own, to tell where it came from.
// The reason is not stored (the driver port carries none): the kernel
// reports it on the error side channel with the message id.
const (
	AttrDeadLetterFrom     = "swarm-dead-letter-from"     // the queue it was dead-lettered from
	AttrDeadLetterAttempts = "swarm-dead-letter-attempts" // its deliveries there
	AttrDeadLetterAt       = "swarm-dead-letter-at"       // when, RFC 3339 UTC
)

func (d *driver) Capabilities() kernel.Capabilities {
	return kernel.Capabilities{
		Ordered:        true,
		Persistent:     true,
		Redelivery:     true,
		Delay:          true,
		ConsumerGroups: true,
		LongPoll:       true,
		Receivers:      1, // more would reorder batches of one consumer
		MaxBatch:       maxBatch,
		MaxBatchBytes:  max(maxBatchBytes, d.maxPayload),
		MaxPayload:     d.maxPayload,
		Lease:          d.lease,
	}
}

// Send writes the batch with COPY, one statement that commits all rows or
// none, then has the queue's channel notified (see announcer). COPY costs
// the server a quarter to a third less CPU than the INSERT ... SELECT FROM
// unnest(arrays) the outbox uses (it inserts rows a page at a time, with no
// executor per row nor sort), and it streams without waiting for a reply
// before the data: one round trip.
//
// The notification follows the commit instead of sharing its transaction
// (COPY cannot be pipelined with another statement): receivers still wake
// only once the rows are committed. If it fails, the rows are committed
// all the same, so the send succeeds and the failure is reported: a
// receiver waiting on LISTEN then finds them at its next poll.
func (d *driver) Send(ctx context.Context, batch []kernel.Envelope) []error {
	rows, err := d.copyRows(batch)
	if err != nil {
		return fill(len(batch), err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	mark := d.scan.sendBegin()
	_, err = d.pool.CopyFrom(ctx, d.table, copyColumns, pgx.CopyFromRows(rows))
	d.scan.sendEnd(mark)
	if err != nil {
		return fill(len(batch), fmt.Errorf("postgres: send %d messages to queue %q: %w", len(batch), d.queue, err))
	}
	d.announcer.announce()
	return nil
}

func fill(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// exec runs a batch on the pool and returns its first error. Close reads
// every result, running the callbacks of queries queued with one.
func (d *driver) exec(ctx context.Context, b *pgx.Batch) error {
	return d.pool.SendBatch(ctx, b).Close()
}

// settleLeases runs, in one pipelined transaction, the statements queue
// adds for handles whose hold has ended, given their id and attempt
// tokens; none when there are no such handles.
func (d *driver) settleLeases(ctx context.Context, hs []*handle, queue func(b *pgx.Batch, ids []int64, attempts []int32)) error {
	if len(hs) == 0 {
		return nil
	}
	ids, attempts := tokens(hs)
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	b := &pgx.Batch{}
	queue(b, ids, attempts)
	return d.exec(ctx, b)
}

// tokens splits handles into the id and attempt arrays the statements
// unnest.
func tokens(hs []*handle) (ids []int64, attempts []int32) {
	ids = make([]int64, len(hs))
	attempts = make([]int32, len(hs))
	for i, h := range hs {
		ids[i], attempts[i] = h.id, h.attempt
	}
	return ids, attempts
}

// Nack makes the deliveries visible again after delay. A release (delay 0)
// notifies, so a waiting consumer takes them at once; a delayed one wakes
// this broker's own receiver when due.
func (d *driver) Nack(ctx context.Context, handles []any, delay time.Duration) error {
	delay = max(delay, 0)
	hs, err := settleHeld(ctx, handles, func(h *hold, ctx context.Context, hs []*handle) (bool, error) {
		return h.nack(ctx, hs, delay)
	})
	err = cmp.Or(err, d.settleLeases(ctx, hs, func(b *pgx.Batch, ids []int64, attempts []int32) {
		b.Queue(generic)
		b.Queue(d.move, ids, attempts, delay.Microseconds(), d.queue)
		if delay == 0 {
			b.Queue(notify, d.channel, d.queue)
		}
	}))
	d.scan.fallBehind()
	if err != nil {
		return fmt.Errorf("postgres: nack %d messages of queue %q: %w", len(handles), d.queue, err)
	}
	if delay > 0 {
		due := time.Now().Add(delay).UnixNano()
		for {
			cur := d.due.Load()
			if (cur != 0 && cur <= due) || d.due.CompareAndSwap(cur, due) {
				break
			}
		}
		if sub := d.sub.Load(); sub != nil {
			sub.wakeSelf() // a receiver waiting already recomputes its wait
		}
	}
	return nil
}

// Extend pushes the lease of the deliveries still held to lease from now,
// committed without waiting for the WAL flush (see settleAsync).
func (d *driver) Extend(ctx context.Context, handles []any, lease time.Duration) error {
	hs, _ := settleHeld(ctx, handles, func(h *hold, _ context.Context, _ []*handle) (bool, error) {
		return h.extend(lease), nil
	})
	err := d.settleLeases(ctx, hs, func(b *pgx.Batch, ids []int64, attempts []int32) {
		b.Queue(settleAsyncGeneric)
		b.Queue(d.move, ids, attempts, lease.Microseconds(), d.queue)
	})
	if err != nil {
		return fmt.Errorf("postgres: extend %d leases of queue %q: %w", len(hs), d.queue, err)
	}
	return nil
}

// DeadLetter moves the deliveries still held to the dead-letter queue in one
// statement (delete and insert commit together), keeping category,
// attributes, payload and creation time, and wakes its readers.
func (d *driver) DeadLetter(ctx context.Context, handles []any) error {
	hs, err := settleHeld(ctx, handles, (*hold).deadLetter)
	err = cmp.Or(err, d.settleLeases(ctx, hs, func(b *pgx.Batch, ids []int64, attempts []int32) {
		b.Queue(generic)
		b.Queue(d.deadLetter, ids, attempts, d.dlq, d.queue)
		b.Queue(notify, d.dlqChannel, d.dlq)
	}))
	if err != nil {
		return fmt.Errorf("postgres: dead-letter %d messages of queue %q to %q: %w", len(handles), d.queue, d.dlq, err)
	}
	return nil
}

// Close stops the LISTEN connection and closes the pool the broker opened.
// The kernel calls it once, after releasing what it held.
func (d *driver) Close() error {
	d.announcer.close()
	d.subOnce.Do(func() {}) // no subscription from now on
	if sub := d.sub.Load(); sub != nil {
		sub.unsubscribe()
	}
	// Holds left open (the kernel settles or releases every delivery
	// first, so only after a failure) end as a crash would end them.
	d.holds.Lock()
	left := make([]*hold, 0, len(d.holds.m))
	for h := range d.holds.m {
		left = append(left, h)
	}
	d.holds.Unlock()
	for _, h := range left {
		h.abort()
	}
	if d.ownPool {
		dropSlots(d.pool)
	}
	if d.ownPool {
		d.pool.Close()
	}
	return nil
}
