package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/swarm-go/swarm/kernel"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commitLoop commits moved marks as acks arrive, one commit at a time and
// at most one per commit interval: acks that arrive during a commit or the
// interval after it are coalesced into the next. The first ack after a
// quiet spell is committed at once.
func (d *driver) commitLoop(ctx context.Context) {
	defer close(d.done)
	retry := time.Duration(0)
	var spacing *time.Timer // armed after each commit
	armed := false
	for {
		if armed {
			select {
			case <-ctx.Done():
				spacing.Stop()
				return
			case <-spacing.C:
			}
			armed = false
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		}
		if err := d.commit(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			d.report(&kernel.Error{Op: "ack", Err: err})
			retry = min(max(2*retry, 50*time.Millisecond), 2*time.Second)
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			select {
			case d.wake <- struct{}{}:
			default:
			}
			continue
		}
		retry = 0
		if d.c.commitEvery > 0 {
			if spacing == nil {
				spacing = time.NewTimer(d.c.commitEvery)
			} else {
				spacing.Reset(d.c.commitEvery)
			}
			armed = true
		}
	}
}

// commit commits every moved mark of the partitions this member owns.
func (d *driver) commit(ctx context.Context) error {
	d.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	var parts []*part
	for key, p := range d.parts {
		if !p.dirty {
			continue
		}
		if offsets[key.topic] == nil {
			offsets[key.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[key.topic][key.partition] = p.mark
		p.dirty = false
		parts = append(parts, p)
	}
	cl := d.consumer
	d.mu.Unlock()
	if len(parts) == 0 {
		return nil
	}
	if err := d.commitOffsets(ctx, cl, offsets); err != nil {
		d.mu.Lock()
		for _, p := range parts {
			p.dirty = p.dirty || !p.gone
		}
		d.mu.Unlock()
		return err
	}
	return nil
}

// commitOffsets commits synchronously and returns the first error, the
// request's or a partition's.
func (d *driver) commitOffsets(ctx context.Context, cl *kgo.Client, offsets map[string]map[int32]kgo.EpochOffset) error {
	var cerr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
					cerr = fmt.Errorf("partition %d: %w", p.Partition, err)
				}
			}
		}
	})
	if cerr != nil {
		return fmt.Errorf("kafka: commit offsets of %s in group %q: %w", where(d.c, d.topic), d.c.group, cerr)
	}
	return nil
}

// revoked commits the acked prefix of the partitions leaving this member,
// then forgets them; deliveries still in hand from them are settled by the
// new owner, which starts at the commit.
func (d *driver) revoked(ctx context.Context, cl *kgo.Client, lost map[string][]int32) {
	offsets := d.drop(cl, lost, true)
	if len(offsets) == 0 {
		return
	}
	if err := d.commitOffsets(ctx, cl, offsets); err != nil {
		d.report(&kernel.Error{Op: "ack", Err: fmt.Errorf("on rebalance: %w", err)})
	}
}

// lost forgets partitions taken from this member without a chance to
// commit (session expired): what was acked since the last commit will be
// delivered again to their new owner.
func (d *driver) lost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	d.drop(cl, lost, false)
}

// drop forgets partitions and returns their uncommitted marks when keep.
// A paused partition is resumed, so that it is fetched if it comes back.
func (d *driver) drop(cl *kgo.Client, ps map[string][]int32, keep bool) map[string]map[int32]kgo.EpochOffset {
	resume := map[string][]int32{}
	defer func() {
		if len(resume) > 0 {
			cl.ResumeFetchPartitions(resume)
		}
	}()
	d.mu.Lock()
	defer d.mu.Unlock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for topic, partitions := range ps {
		for _, n := range partitions {
			key := tp{topic, n}
			p := d.parts[key]
			if p == nil {
				continue
			}
			if keep && p.dirty {
				if offsets[topic] == nil {
					offsets[topic] = map[int32]kgo.EpochOffset{}
				}
				offsets[topic][n] = p.mark
			}
			if p.paused {
				resume[topic] = append(resume[topic], n)
			}
			p.gone = true
			delete(d.parts, key)
		}
	}
	return offsets
}
