package postgres

import (
	"cmp"
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// maxIDSpan bounds the id bitmap of one ack statement (8 KiB): handles whose
// ids lie further apart are acked by id.
const maxIDSpan = 1 << 16

// Ack deletes the deliveries still held. Those of an open hold are
// deleted inside its transaction, by ctid (see hold). Those whose hold has
// ended settle as leases: committed without waiting for the WAL flush (see
// settleAsync), in one DELETE per attempt number among the handles (almost
// always one).
//
// A lease's ack finds the rows where the hold's conversion left them, by
// ctid: a TID scan reads each row's heap page and no index. By id it
// descended a key once per row (server CPU per 1,000 acks: 2.0-2.8 ms by
// an id key, 3.0-4.2 ms by the (queue, id) key, 1.4-1.8 ms by ctid). A
// ctid only says where a row version was: the statement deletes the row
// there only if it still has the handle's attempt, the queue and an id
// among the handles' (tested on a bitmap over the ids' span: id =
// ANY(array) as a filter compares each row with every id, 6.4 ms), so
// whatever it deletes is a delivery the caller holds under that token. A
// row updated since (an Extend) has moved and is not found there: when a
// statement deletes fewer rows than it had handles, they are retried by
// id, which settles the moved rows and, as before, nothing of stale
// handles.
func (d *driver) Ack(ctx context.Context, handles []any) error {
	hs, err := settleHeld(ctx, handles, (*hold).ack)
	if len(hs) > 0 {
		ctx, cancel := context.WithTimeout(ctx, d.timeout)
		defer cancel()
		missed, lerr := d.ackByCtid(ctx, hs)
		if lerr == nil && len(missed) > 0 {
			b := &pgx.Batch{}
			b.Queue(settleAsyncGeneric)
			for _, g := range groupBy(missed, attemptOf) {
				b.Queue(d.ackByID, ids(g), g[0].attempt, d.queue)
			}
			lerr = d.exec(ctx, b)
		}
		err = cmp.Or(err, lerr)
	}
	if err != nil {
		return fmt.Errorf("postgres: ack %d messages of queue %q: %w", len(handles), d.queue, err)
	}
	return nil
}

// settleHeld runs op on the handles of each hold, and returns those whose
// hold has ended, to settle as leases. A hold that fails does not keep the
// others from settling; the first error is returned.
func settleHeld(ctx context.Context, handles []any, op func(*hold, context.Context, []*handle) (bool, error)) ([]*handle, error) {
	var leases []*handle
	var first error
	for _, g := range groupBy(ours(handles), func(x *handle) *hold { return x.hold }) {
		h := g[0].hold
		if h == nil {
			leases = append(leases, g...)
			continue
		}
		held, err := op(h, ctx, g)
		if err != nil && first == nil {
			first = err
		}
		if !held {
			leases = append(leases, g...)
		}
	}
	return leases, first
}

// ackByCtid runs the ctid DELETEs of handles, one per attempt, in one
// pipelined transaction, and returns the handles whose rows it did not
// find there.
func (d *driver) ackByCtid(ctx context.Context, hs []*handle) ([]*handle, error) {
	type group struct {
		hs   []*handle
		byID bool // ids too far apart for a bitmap
	}
	var groups []group
	b := &pgx.Batch{}
	b.Queue(settleAsyncGeneric)
	for _, g := range groupBy(hs, attemptOf) {
		attempt := g[0].attempt
		lo, bits := idBitmap(g)
		if bits == nil {
			b.Queue(d.ackByID, ids(g), attempt, d.queue)
		} else {
			ctids := make([]pgtype.TID, len(g))
			for i, h := range g {
				ctids[i] = h.ctid
			}
			b.Queue(d.ack, ctids, attempt, lo, bits, d.queue)
		}
		groups = append(groups, group{g, bits == nil})
	}
	br := d.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	var missed []*handle
	for _, g := range groups {
		tag, err := br.Exec()
		if err != nil {
			return nil, err
		}
		// Each row deleted is one of the group's handles (its queue and id
		// are, and they are the key): fewer rows than handles means some
		// were elsewhere.
		if !g.byID && tag.RowsAffected() < int64(len(g.hs)) {
			missed = append(missed, g.hs...)
		}
	}
	return missed, br.Close()
}

// idBitmap returns the smallest id of hs and a bitmap of their ids above
// it, bit i (byte i/8, bit i%8 from the least significant, as get_bit
// numbers them) set for id lo+i; nil when they span more than maxIDSpan.
func idBitmap(hs []*handle) (lo int64, bits []byte) {
	lo, hi := hs[0].id, hs[0].id
	for _, h := range hs {
		lo, hi = min(lo, h.id), max(hi, h.id)
	}
	if hi-lo >= maxIDSpan {
		return 0, nil
	}
	bits = make([]byte, (hi-lo)/8+1)
	for _, h := range hs {
		i := h.id - lo
		bits[i/8] |= 1 << (i % 8)
	}
	return lo, bits
}

// ours returns the handles among handles, skipping foreign values.
func ours(handles []any) []*handle {
	hs := make([]*handle, 0, len(handles))
	for _, x := range handles {
		if h, ok := x.(*handle); ok {
			hs = append(hs, h)
		}
	}
	return hs
}

func ids(hs []*handle) []int64 {
	ids := make([]int64, len(hs))
	for i, h := range hs {
		ids[i] = h.id
	}
	return ids
}

func attemptOf(h *handle) int32 { return h.attempt }
