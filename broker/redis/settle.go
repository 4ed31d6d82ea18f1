package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ids returns the stream ids of handles; handles of another driver are
// skipped (the kernel never passes them).
func ids(handles []any) []string {
	out := make([]string, 0, len(handles))
	for _, h := range handles {
		if dv, ok := h.(*delivery); ok {
			out = append(out, dv.id)
		}
	}
	return out
}

// Ack acknowledges the deliveries. Unless WithKeepAcked, acked entries
// leave the stream with the next trim (see trimScript).
func (d *driver) Ack(ctx context.Context, handles []any) error {
	ids := ids(handles)
	defer d.untrack(ids)
	return d.failed(d.settle(ctx, ids))
}

// settle acks ids, with a trim of the stream in the same round trip once
// trimEvery entries were acked since the last one. Trimming below what the
// groups still need costs the server a fraction of deleting each acked
// entry (XDEL, about 1 µs per entry); a server that refused the trim gets
// the XDEL.
func (d *driver) settle(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var err error
	if d.deleteAcks && d.trimOff.Load() {
		_, err = d.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			p.XAck(ctx, d.stream, d.group, ids...)
			p.XDel(ctx, d.stream, ids...)
			return nil
		})
	} else if count := d.trimDue(len(ids)); count > 0 {
		var ack *goredis.IntCmd
		var trim *goredis.Cmd
		_, _ = d.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			ack = p.XAck(ctx, d.stream, d.group, ids...)
			trim = trimScript.EvalSha(ctx, p, []string{d.stream})
			return nil
		})
		err = ack.Err()
		if d.trimmed(ctx, trim, count) && err == nil {
			err = d.c.XDel(ctx, d.stream, ids...).Err()
		}
	} else {
		err = d.c.XAck(ctx, d.stream, d.group, ids...).Err()
	}
	if err != nil {
		return fmt.Errorf("XACK %d entries on stream %q group %q: %w", len(ids), d.stream, d.group, err)
	}
	return nil
}

// Nack releases deliveries: the entries stay pending but their idle time
// is set (XCLAIM IDLE JUSTID, which keeps the delivery count) so that any
// consumer's next XAUTOCLAIM takes them once delay has passed. Consumers
// claim entries idle for their lease, so a delay longer than the lease is
// cut to the lease, and one shorter is exact for consumers sharing this
// broker's lease.
func (d *driver) Nack(ctx context.Context, handles []any, delay time.Duration) error {
	idle := releasedIdle
	if delay > 0 {
		idle = max(d.lease-delay, 0)
	}
	ids := ids(handles)
	if delay > 0 {
		d.hold(ids, time.Now().Add(delay))
	}
	defer d.untrack(ids)
	err := d.failed(d.xclaim(ctx, ids, idle))
	if err != nil {
		return fmt.Errorf("release %d entries on stream %q group %q: %w", len(handles), d.stream, d.group, err)
	}
	d.rescan.Store(true)
	d.claimBy(time.Now().Add(max(delay, 0)))
	return nil
}

// Extend restarts the lease of the deliveries: XCLAIM to this consumer with
// idle time 0 (JUSTID, so the delivery count stays).
func (d *driver) Extend(ctx context.Context, handles []any, _ time.Duration) error {
	if err := d.xclaim(ctx, ids(handles), 0); err != nil {
		return fmt.Errorf("extend %d leases on stream %q group %q: %w", len(handles), d.stream, d.group, err)
	}
	return nil
}

// xclaim gives ids to this consumer with the given idle time. JUSTID
// keeps the delivery count, which is the attempt count. go-redis has no
// XCLAIM with IDLE, hence the raw command.
func (d *driver) xclaim(ctx context.Context, ids []string, idle time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, 9+len(ids))
	args = append(args, "xclaim", d.stream, d.group, d.consumer, 0)
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(args, "idle", idle.Milliseconds(), "justid")
	return d.c.Do(ctx, args...).Err()
}

// DeadLetter adds the entries, fields unchanged, to the dead-letter stream,
// then acks them on the source. Those whose copy failed stay pending and
// come back after the lease.
func (d *driver) DeadLetter(ctx context.Context, handles []any) error {
	var ds []*delivery
	for _, h := range handles {
		if dv, ok := h.(*delivery); ok {
			ds = append(ds, dv)
		}
	}
	if len(ds) == 0 {
		return nil
	}
	all := make([]string, len(ds))
	for i, dv := range ds {
		all[i] = dv.id
	}
	defer d.untrack(all)
	cmds := make([]*goredis.StringCmd, len(ds))
	_, err := d.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, dv := range ds {
			cmds[i] = p.XAdd(ctx, d.xadd(d.deadLetter, deadFields(dv), i == len(ds)-1))
		}
		return nil
	})
	moved := make([]string, 0, len(ds))
	for i, c := range cmds {
		if c.Err() == nil {
			moved = append(moved, ds[i].id)
		}
	}
	if serr := d.settle(ctx, moved); serr != nil {
		err = errors.Join(err, serr)
	}
	if d.failed(err) != nil {
		return fmt.Errorf("dead-letter to stream %q (%d of %d entries copied, they stay pending until acked): %w",
			d.deadLetter, len(moved), len(ds), err)
	}
	return nil
}

// deadFields are the fields of a dead letter: the entry's, unchanged, with
// the id its consumer saw (the source entry's id when the entry had none
// of its own), so the dead letter keeps the message's identity.
func deadFields(dv *delivery) map[string]any {
	if _, ok := dv.values[fieldID]; ok {
		return dv.values
	}
	v := make(map[string]any, len(dv.values)+1)
	for k, x := range dv.values {
		v[k] = x
	}
	v[fieldID] = dv.id
	return v
}

// Close releases entries lost by a failed call (the kernel has released
// what it held), leaves the group when this consumer holds no pending entry
// (a consumer deleted with pending entries would lose them), trims what was
// acked since the last trim, and closes the client New dialed.
func (d *driver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d.orphans.Load() {
		_ = d.releaseOrphans(ctx) // best effort: left entries come back after the lease
	}
	pending, err := d.c.XPendingExt(ctx, &goredis.XPendingExtArgs{
		Stream: d.stream, Group: d.group, Start: "-", End: "+", Count: 1, Consumer: d.consumer,
	}).Result()
	if err == nil && len(pending) == 0 {
		_ = d.c.XGroupDelConsumer(ctx, d.stream, d.group, d.consumer).Err()
	}
	d.trimIdle(ctx)
	if d.owned {
		if err := d.c.Close(); err != nil {
			return fmt.Errorf("redis: close client of stream %q: %w", d.stream, err)
		}
	}
	return nil
}
