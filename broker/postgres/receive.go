package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/swarm-go/swarm/kernel"
)

// Receive takes up to max messages, oldest first, into a hold (see hold).
// When the queue is empty it waits for a NOTIFY, a local delayed nack
// falling due, or the poll frequency (which bounds how late an expired
// lease or another process's delayed nack is noticed), then returns none
// so the kernel calls again. When the pool has no hold to spare it waits
// for one, up to the poll frequency.
func (d *driver) Receive(ctx context.Context, max int) ([]kernel.Envelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.subOnce.Do(func() {
		d.sub.Store(subscribe(d.listenKey, d.listenCfg, d.channel, d.queue, func(err error) {
			d.report(&kernel.Error{Op: "listen", Err: fmt.Errorf("postgres: LISTEN on %q: %w", d.channel, err)})
		}, d.scan.notified))
	})
	if !d.acquireSlot(ctx) {
		return nil, nil
	}
	sub := d.sub.Load()
	wake := sub.arm()
	envs, err := d.takeHeld(ctx, max)
	if err != nil {
		err = fmt.Errorf("postgres: receive from queue %q: %w", d.queue, err)
	}
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
			sub.disarm(false)
			return nil, nil // due now: the kernel receives again at once, and the take clears it
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

// acquireSlot takes a slot for a hold, waiting up to the poll frequency
// for one to free; false when none did or ctx ended.
func (d *driver) acquireSlot(ctx context.Context) bool {
	select {
	case d.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(d.pollWait)
	defer t.Stop()
	select {
	case d.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// settleAsync precedes the statements that only move a message along
// outside a hold's transaction, and a hold's commit when it moved nothing
// to the dead-letter queue: it commits without waiting for the WAL flush
// (synchronous_commit = off, for this transaction only). A server crash can
// then lose the last few hundred milliseconds of them, and what it loses
// is an ack or a lease (the message is delivered again), which
// at-least-once allows. A send's COPY, a nack and a dead-letter move still
// commit synchronously: a message the broker accepted, or moved to the
// dead-letter queue, must survive a crash. The flush wait was one of the
// largest costs of a settlement (about 2 ms per commit on this project's
// disk).
//
// The statements that find rows by id (nack, extend, dead-letter, an ack's
// fallback) are planned generically: planned for the values at hand, from
// a queue table's poor statistics (new, or churned since the last ANALYZE),
// they scanned the queue's whole backlog (25-62 ms) to find a few rows by
// the primary key (queue, id).
const (
	settleAsync        = `SELECT set_config('synchronous_commit', 'off', true)`
	settleAsyncGeneric = `SELECT set_config('synchronous_commit', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)`
	generic            = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`
)

// readTaken reads the rows of a take, in the queue's order. The rows'
// bytes are read where pgx holds them (DriverBytes) and copied into a few
// allocations per take rather than several per row: the payloads into
// shared slabs, the ids into one string, the handles into one slice, and a
// category into a new string only when it differs from the row before's.
// A handle's attempt is the row's, to be numbered by the hold, which also
// sets the envelopes' handles.
func (d *driver) readTaken(br pgx.BatchResults) ([]kernel.Envelope, []handle, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, nil, err
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
	_, err = pgx.ForEachRow(rows, []any{&h.id, &category, &id, &attrs, &body, &h.attempt, &h.ctid, &h.failed}, func() error {
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
			env.Attrs = readAttrs(attrs)
		}
		envs = append(envs, env)
		hs = append(hs, h)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	all, from := string(ids), 0
	for i := range envs {
		envs[i].ID, from = all[from:idEnds[i]], idEnds[i]
	}
	return envs, hs, nil
}

// readAttrs decodes a row's attrs. A row written by hand with odd attrs
// still flows: the kernel routes it by category. (Decoding into a field of
// the envelope instead would move every envelope of a take to the heap.)
func readAttrs(attrs []byte) map[string]string {
	var m map[string]string
	if err := json.Unmarshal(attrs, &m); err != nil {
		return map[string]string{"swarm-bad-attrs": string(attrs)}
	}
	return m
}

// payloadSlab is the size of the slabs a take copies payloads into: a
// delivery kept alive keeps its slab, so it stays small.
const payloadSlab = 32 << 10
