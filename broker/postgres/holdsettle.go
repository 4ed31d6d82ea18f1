package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/swarm-go/swarm/kernel"
)

// ctx bounds a statement on the hold's connection. It is detached
// from the caller's cancellation: a statement cancelled halfway aborts the
// whole hold, returning every row of it.
func (h *hold) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), h.d.timeout)
}

// settle runs b, built by queue from the handles among hs still unsettled
// (none: nothing runs), inside the hold's transaction, marks them settled,
// and commits when nothing is left open. It reports false when the hold
// has ended (the handles then settle as leases).
func (h *hold) settle(ctx context.Context, hs []*handle, queue func(b *pgx.Batch, mine []*handle)) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return false, nil
	}
	var mine []*handle
	for _, x := range hs {
		if !h.settled[x.index] {
			h.settled[x.index] = true
			h.open--
			mine = append(mine, x)
		}
	}
	ctx, cancel := h.ctx(ctx)
	defer cancel()
	if len(mine) > 0 {
		b := &pgx.Batch{}
		queue(b, mine)
		if err := h.execLocked(ctx, b); err != nil {
			return true, err
		}
	}
	return true, h.commitIfDone(ctx)
}

// ack deletes the rows of hs inside the hold's transaction.
func (h *hold) ack(ctx context.Context, hs []*handle) (bool, error) {
	return h.settle(ctx, hs, func(b *pgx.Batch, mine []*handle) {
		b.Queue(h.d.deleteHeld, ctids(mine))
	})
}

// deadLetter moves the rows of hs to the dead-letter queue inside the
// hold's transaction; its commit is then synchronous.
func (h *hold) deadLetter(ctx context.Context, hs []*handle) (bool, error) {
	return h.settle(ctx, hs, func(b *pgx.Batch, mine []*handle) {
		for _, g := range groupBy(mine, attemptOf) {
			b.Queue(h.d.deadLetterHeld, ctids(g), g[0].attempt, h.d.dlq)
		}
		b.Queue(notify, h.d.dlqChannel, h.d.dlq) // sent at commit
		h.durable = true
	})
}

// extend moves the hold's lease; the lock needs no statement.
func (h *hold) extend(lease time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return false
	}
	if until := time.Now().Add(lease); until.After(h.deadline) {
		h.deadline = until
	}
	return true
}

// nack converts the hold (see hold), the rows of hs visible again after
// delay, and commits synchronously, as a lease's nack does.
func (h *hold) nack(ctx context.Context, hs []*handle, delay time.Duration) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return false, nil
	}
	ctx, cancel := h.ctx(ctx)
	defer cancel()
	nacked := make([]bool, len(h.handles))
	for _, x := range hs {
		nacked[x.index] = true
	}
	at := time.Now().Add(delay)
	h.durable = true
	return true, h.convert(ctx, func(x *handle) (time.Time, bool) {
		if nacked[x.index] {
			return at, true
		}
		return h.deadline, false
	}, delay == 0)
}

// expire converts the hold when it has been open holdFor, or its lease has
// run out; the rows unsettled stay hidden until the lease's end.
func (h *hold) expire() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.d.timeout)
	defer cancel()
	if err := h.convert(ctx, func(*handle) (time.Time, bool) { return h.deadline, false }, !h.deadline.After(time.Now())); err != nil {
		h.d.report(&kernel.Error{Op: "receive", Err: fmt.Errorf("postgres: end the hold of %d messages of queue %q (they are delivered again): %w", h.open, h.d.queue, err)})
	}
}

// convert ends the hold with the unsettled rows written as leases: attempt
// as delivered, visible from when(handle). A nacked handle counts as
// settled. Rows visible at once are announced.
func (h *hold) convert(ctx context.Context, when func(*handle) (time.Time, bool), wake bool) error {
	type lease struct {
		attempt int32
		at      time.Time
	}
	var left []*handle
	at := make([]time.Time, len(h.handles))
	for i := range h.handles {
		if h.settled[i] {
			continue
		}
		x := &h.handles[i]
		var done bool
		at[i], done = when(x)
		if done {
			h.settled[i] = true
			h.open--
		}
		left = append(left, x)
	}
	groups := groupBy(left, func(x *handle) lease { return lease{x.attempt, at[x.index]} })
	b := &pgx.Batch{}
	for _, g := range groups {
		b.Queue(h.d.leaseHeld, ctids(g), g[0].attempt, at[g[0].index]).Query(func(rows pgx.Rows) error {
			// A lease's update moves the row: its handles look for it at
			// its new place (see Ack).
			byID := make(map[int64]*handle, len(g))
			for _, x := range g {
				byID[x.id] = x
			}
			var id int64
			var ctid pgtype.TID
			_, err := pgx.ForEachRow(rows, []any{&id, &ctid}, func() error {
				if x := byID[id]; x != nil {
					x.ctid = ctid
				}
				return nil
			})
			return err
		})
	}
	if wake {
		b.Queue(notify, h.d.channel, h.d.queue)
	}
	if err := h.execLocked(ctx, b); err != nil {
		return err
	}
	return h.commit(ctx)
}

// commitIfDone commits once every delivery is settled.
func (h *hold) commitIfDone(ctx context.Context) error {
	if h.open > 0 {
		return nil
	}
	return h.commit(ctx)
}

// commit ends the transaction, without waiting for the WAL flush unless
// it moved dead letters or released rows (a nack; see settleAsync).
func (h *hold) commit(ctx context.Context) error {
	b := &pgx.Batch{}
	if !h.durable {
		b.Queue(settleAsync)
	}
	b.Queue(`COMMIT`)
	if err := h.execLocked(ctx, b); err != nil {
		return err
	}
	h.conn.Release()
	h.conn = nil
	h.end()
	return nil
}

func ctids(hs []*handle) []pgtype.TID {
	ts := make([]pgtype.TID, len(hs))
	for i, x := range hs {
		ts[i] = x.ctid
	}
	return ts
}

// groupBy splits hs by key, groups in the order their keys first appear;
// one group (the usual case) costs no map.
func groupBy[K comparable](hs []*handle, key func(*handle) K) [][]*handle {
	if len(hs) == 0 {
		return nil
	}
	first := key(hs[0])
	if !slices.ContainsFunc(hs, func(x *handle) bool { return key(x) != first }) {
		return [][]*handle{hs}
	}
	index := map[K]int{}
	var groups [][]*handle
	for _, x := range hs {
		k := key(x)
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], x)
	}
	return groups
}
