package postgres

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/swarm-go/swarm/kernel"
)

// A hold is one take's transaction, kept open on its own connection while
// the kernel handles what it took: the rows stay locked (FOR UPDATE SKIP
// LOCKED), which hides them from other consumers as a lease would, without
// writing a new version of every row. Acks delete rows inside the
// transaction, which commits once every delivery is settled: per message,
// one lock and one delete, as a queue read by hand in one transaction.
//
// A lock dies with its connection: a consumer that crashes, or loses its
// connection, returns its rows at once. Their attempt is counted all the
// same: a row keeps the id of the last transaction that locked it (its
// xmax) until another locks it, and every take and hold that does not fail
// commits (an empty take too), so a take that finds a row whose locker did
// not commit knows that delivery failed. It adds that attempt and, so that
// the count survives a second failure, ends its hold at once, writing the
// attempts (see convert).
//
// A hold ends in one of three ways:
//   - every delivery settled: commit (the acks, dead letters);
//   - converted: the deliveries still unsettled get what a lease would
//     have given them (their attempt written, visible_at at the lease's end
//     or a nack's delay), then commit. A nack converts at once (its
//     redelivery must not wait for the rest of the batch), and so does a
//     hold older than holdFor or past its lease, which bounds how long a
//     transaction stays open (it holds back vacuum) and a connection busy.
//     Their handles then settle the way a lease's do (see Ack).
//   - aborted (a statement or the connection failed, Close): the rows
//     return, and the next take counts the attempt.
type hold struct {
	d    *driver
	conn *pgxpool.Conn

	mu       sync.Mutex
	ended    bool // committed or aborted: handles settle as leases
	open     int  // deliveries not yet settled
	handles  []handle
	settled  []bool
	deadline time.Time
	durable  bool // holds a dead-letter move or a nack: commit synchronously
	timer    *time.Timer
}

// holdFor bounds the life of a hold's transaction (see hold).
const holdFor = 2 * time.Second

// holdSlots bounds the holds open at once on a pool to half its
// connections, whichever brokers share it: the other half serve sends and
// anything else the application runs on the pool (a handler that emits
// while its message is held must find a connection).
var holdSlots = struct {
	sync.Mutex
	m map[*pgxpool.Pool]chan struct{}
}{m: map[*pgxpool.Pool]chan struct{}{}}

// slotsOf returns the slots of pool's holds, made on first use; dropSlots
// forgets them when the broker that opened the pool closes it.
func slotsOf(pool *pgxpool.Pool) chan struct{} {
	holdSlots.Lock()
	defer holdSlots.Unlock()
	s, ok := holdSlots.m[pool]
	if !ok {
		s = make(chan struct{}, max(1, pool.Config().MaxConns/2))
		holdSlots.m[pool] = s
	}
	return s
}

func dropSlots(pool *pgxpool.Pool) {
	holdSlots.Lock()
	delete(holdSlots.m, pool)
	holdSlots.Unlock()
}

// takeHeld takes up to max rows into a new hold, in the slot the caller
// took (see acquireSlot). It returns none, nothing open and the slot freed
// when the queue has no visible row or on error. It runs detached from
// ctx's cancellation (bounded by the timeout): rows locked by a statement
// cancelled halfway would stay hidden until the server noticed, whereas
// rows returned to a stopping kernel are released at once.
func (d *driver) takeHeld(ctx context.Context, max int) ([]kernel.Envelope, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
	defer cancel()
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		<-d.slots
		return nil, err
	}
	h := &hold{d: d, conn: conn}
	max = min(max, maxBatch)
	now := time.Now()
	if due := d.due.Load(); due != 0 && due <= now.UnixNano() && d.due.CompareAndSwap(due, 0) {
		d.scan.fallBehind() // a delayed nack's rows are visible again
	}
	from := d.scan.from(now, d.pollWait)
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(holdSettings, strconv.FormatInt((holdFor+d.timeout).Milliseconds(), 10))
	b.Queue(d.takeLocked, d.queue, max, from)
	br := conn.SendBatch(ctx, b)
	envs, failed, err := h.read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && len(envs) > 0 {
		d.scan.took(from, h.handles[len(h.handles)-1].id) // ids ascend in a take
	}
	if err == nil && len(envs) == 0 {
		// Commit, not roll back: a take can lock a row it does not return
		// (one updated while the take ran, locked in its new version, whose
		// recheck then failed: a nacked row not visible yet), and a
		// rolled-back locker is what marks a failed delivery.
		if _, err = conn.Exec(ctx, `COMMIT`); err == nil {
			conn.Release()
			<-d.slots
			return nil, nil
		}
	}
	if err != nil {
		h.abort()
		return nil, err
	}
	h.deadline = time.Now().Add(d.lease)
	h.timer = time.AfterFunc(min(holdFor, d.lease), h.expire) // before Close can see the hold
	d.holds.Lock()
	d.holds.m[h] = struct{}{}
	d.holds.Unlock()
	if failed {
		// Write the failed deliveries' attempts now: a second failure
		// would otherwise lose them.
		h.mu.Lock()
		err = h.convert(ctx, func(*handle) (time.Time, bool) { return h.deadline, false }, false)
		h.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return envs, nil
}

// holdSettings: the take's plan (see takeLocked), and a bound on how long
// the server keeps the transaction of a client that went silent.
const holdSettings = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
	set_config('idle_in_transaction_session_timeout', $1, true)`

// read reads a take's rows into the hold and numbers the deliveries: the
// row's attempts so far, plus one, plus one when its last locker failed.
func (h *hold) read(br pgx.BatchResults) (envs []kernel.Envelope, failed bool, err error) {
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return nil, false, err
		}
	}
	envs, h.handles, err = h.d.readTaken(br)
	if err != nil {
		return nil, false, err
	}
	h.settled = make([]bool, len(envs))
	h.open = len(envs)
	for i := range h.handles {
		x := &h.handles[i]
		x.hold, x.index = h, int32(i)
		x.attempt++
		if x.failed {
			x.attempt++
			failed = true
		}
		envs[i].Handle = x
		envs[i].Attempt = int(x.attempt)
	}
	return envs, failed, nil
}

// execLocked runs b on the hold's connection, aborting the hold on error.
func (h *hold) execLocked(ctx context.Context, b *pgx.Batch) error {
	if err := h.conn.SendBatch(ctx, b).Close(); err != nil {
		h.abortLocked()
		return err
	}
	return nil
}

// abort ends the hold without committing: its connection is closed, which
// ends the transaction on the server whatever state it is in.
func (h *hold) abort() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.abortLocked()
}

func (h *hold) abortLocked() {
	h.d.scan.fallBehind() // its rows are takeable again, below where takes start
	if h.conn != nil {
		c := h.conn.Hijack()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.Close(ctx)
		cancel()
		h.conn = nil
	}
	h.end()
}

// end marks the hold over and frees its slot.
func (h *hold) end() {
	if h.ended {
		return
	}
	h.ended = true
	if h.timer != nil {
		h.timer.Stop()
	}
	h.d.holds.Lock()
	delete(h.d.holds.m, h)
	h.d.holds.Unlock()
	<-h.d.slots
}
