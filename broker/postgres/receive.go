package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/swarm-go/swarm/kernel"
)

// Receive leases up to max messages, oldest first. When the queue is empty
// it waits for a NOTIFY, a local delayed nack falling due, or the poll
// frequency (which bounds how late an expired lease or another process's
// delayed nack is noticed), then returns none so the kernel calls again.
func (d *driver) Receive(ctx context.Context, max int) ([]kernel.Envelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.subOnce.Do(func() {
		d.sub.Store(subscribe(d.listenKey, d.listenCfg, d.channel, d.queue, func(err error) {
			d.report(&kernel.Error{Op: "listen", Err: fmt.Errorf("postgres: LISTEN on %q: %w", d.channel, err)})
		}))
	})
	sub := d.sub.Load()
	wake := sub.arm()
	envs, err := d.takeBatch(ctx, max)
	if err != nil || len(envs) > 0 {
		sub.disarm(len(envs) > 0)
		if len(envs) == max {
			sub.h.wakeOne(d.queue) // more may be waiting: the next consumer's turn
		}
		return envs, err
	}
	wait := d.pollWait
	if due := d.due.Load(); due != 0 {
		until := time.Until(time.Unix(0, due))
		if until <= 0 {
			d.due.CompareAndSwap(due, 0)
			sub.disarm(false)
			return nil, nil // due now: the kernel receives again at once
		}
		wait = min(wait, until)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C:
		sub.disarm(false) // the kernel receives again at once: a wake-up meanwhile is used
	case <-ctx.Done():
		if !sub.disarm(false) {
			sub.h.wakeOne(d.queue) // woken but stopping: pass the turn on
		}
	}
	return nil, nil
}

// settleAsync precedes the statements that only move a message along, its
// lease (take, extend) and its ack, in the same pipelined transaction. It
// commits them without waiting for the WAL flush (synchronous_commit = off,
// for this transaction only): a server crash can then lose the last few
// hundred milliseconds of them, and what it loses is a lease (the message
// is delivered again, its attempt not counted) or an ack (the message is
// delivered again), both of which at-least-once allows. A send's INSERT,
// a nack and a dead-letter move still commit synchronously: a message the
// broker accepted, or moved to the dead-letter queue, must survive a crash.
// The flush wait was one of the two writes' largest costs (about 2 ms per
// statement on this project's disk, twice per batch where the raw client
// commits once).
//
// The take also steers the planner to the one plan that suits a queue: the
// (queue, id) index read in order up to the limit, then the rows fetched by
// ctid (a TID scan). A queue table's statistics say little (new, or churned
// since the last ANALYZE), and planned from them the take sorted the queue's
// whole backlog on every receive (75 ms on 50,000 rows) and found the rows
// to update by a sequential scan of the table (auto_explain during the
// concurrent benchmark: 40-180 ms per take of 400-600 rows, against 2.6 ms
// for the plan above). Hence the generic plan, and no sequential or bitmap
// scan, for the take's own transaction.
//
// The statements that find rows by id (nack, extend, dead-letter, an ack's
// fallback) are planned generically too: planned for the values at hand,
// from the same poor statistics, they scanned the queue's whole backlog
// (25-62 ms) to find a few rows by the primary key (queue, id).
const (
	settleAsync        = `SELECT set_config('synchronous_commit', 'off', true)`
	settleAsyncGeneric = `SELECT set_config('synchronous_commit', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)`
	generic            = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`
	takeAsync          = `SELECT set_config('synchronous_commit', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)`
)

// takeBatch runs the take statement. It runs detached from ctx's cancellation
// (bounded by the timeout): rows leased by a statement cancelled after its
// commit would stay hidden until their lease ran out, whereas rows returned
// to a stopping kernel are released at once.
func (d *driver) takeBatch(ctx context.Context, max int) ([]kernel.Envelope, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(takeAsync)
	b.Queue(d.take, d.queue, min(max, maxBatch), d.lease.Microseconds())
	br := d.pool.SendBatch(ctx, b)
	envs, err := d.readTaken(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: receive from queue %q: %w", d.queue, err)
	}
	// RETURNING follows no order; the queue's order is the id's.
	slices.SortFunc(envs, func(a, b kernel.Envelope) int {
		return cmpInt(a.Handle.(*handle).id, b.Handle.(*handle).id)
	})
	return envs, nil
}

// readTaken reads the rows of a take batch's second statement. The rows'
// bytes are read where pgx holds them (DriverBytes) and copied into a few
// allocations per take rather than several per row: the payloads into
// shared slabs, the ids into one string, the handles into one slice, and a
// category into a new string only when it differs from the row before's.
func (d *driver) readTaken(br pgx.BatchResults) ([]kernel.Envelope, error) {
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	var (
		envs                      []kernel.Envelope
		h                         handle
		hs                        []handle
		category, id, attrs, body pgtype.DriverBytes
		ids                       []byte
		idEnds                    []int
		slab                      []byte
		lastCategory              string
	)
	_, err = pgx.ForEachRow(rows, []any{&h.id, &category, &id, &attrs, &body, &h.attempt, &h.ctid}, func() error {
		if len(envs) == 0 || string(category) != lastCategory {
			lastCategory = string(category)
		}
		ids = append(ids, id...)
		idEnds = append(idEnds, len(ids))
		if cap(slab)-len(slab) < len(body) {
			slab = make([]byte, 0, max(payloadSlab, len(body)))
		}
		start := len(slab)
		slab = append(slab, body...)
		env := kernel.Envelope{Category: lastCategory, Attempt: int(h.attempt), Payload: slab[start:len(slab):len(slab)]}
		if len(attrs) > 0 {
			if err := json.Unmarshal(attrs, &env.Attrs); err != nil {
				// A row written by hand with odd attrs still flows; the
				// kernel routes it by category.
				env.Attrs = map[string]string{"swarm-bad-attrs": string(attrs)}
			}
		}
		envs = append(envs, env)
		hs = append(hs, h)
		return nil
	})
	if err != nil {
		return nil, err
	}
	all, from := string(ids), 0
	for i := range envs {
		envs[i].ID, from = all[from:idEnds[i]], idEnds[i]
		envs[i].Handle = &hs[i]
	}
	return envs, nil
}

// payloadSlab is the size of the slabs a take copies payloads into: a
// delivery kept alive keeps its slab, so it stays small.
const payloadSlab = 32 << 10

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
