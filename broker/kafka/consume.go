package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/swarm-go/swarm/kernel"
	"github.com/twmb/franz-go/pkg/kgo"
)

// tp names one partition of a topic.
type tp struct {
	topic     string
	partition int32
}

// part tracks the deliveries of one partition while this member owns it.
// Kafka commits one offset per partition, so the commit mark only moves
// over a contiguous prefix of settled deliveries; a delivery settled out of
// order waits in pending until the ones before it are settled too. A new
// assignment of the partition gets a new part, so settlements of deliveries
// from before a rebalance (gone) are ignored: the new owner redelivers them.
//
// pending is bounded by maxHeld: past it the partition's fetching pauses
// until the gap closes, so one stuck delivery cannot make the driver hold an
// unbounded tail of settled ones.
type part struct {
	tp      tp
	pending []*delivery // delivered, not yet under the mark, by offset
	head    int
	mark    kgo.EpochOffset // next offset to consume once committed
	dirty   bool            // mark moved since the last commit
	gone    bool            // revoked or lost
	paused  bool            // fetching paused: pending is full
}

// held is how many deliveries wait under the mark, settled or not.
func (p *part) held() int { return len(p.pending) - p.head }

// delivery is the handle of one received record. The deliveries of one
// fetch share one allocation, which lives until the last of them is
// released; each drops its record once done.
type delivery struct {
	p       *part
	offset  int64
	epoch   int32
	rec     *kgo.Record // nil once done; re-sent by Nack and DeadLetter
	attempt int
	done    bool
}

// group returns the group consumer, creating it and its committer on first
// use, so that a broker that only emits never joins the group.
func (d *driver) group() (*kgo.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, kernel.ErrClosed
	}
	if d.consumer != nil {
		return d.consumer, nil
	}
	opts := append(d.c.common(),
		kgo.ConsumerGroup(d.c.group),
		kgo.ConsumeTopics(d.topic),
		// Offsets are committed by the driver after acks, never by a timer.
		kgo.DisableAutoCommit(),
		// Between a poll and AllowRebalance no partition is revoked, so
		// every polled record belongs to a partition this member owns.
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(d.c.session),
		kgo.HeartbeatInterval(d.c.heartbeat),
		kgo.RebalanceTimeout(d.c.rebalance),
		kgo.OnPartitionsRevoked(d.revoked),
		kgo.OnPartitionsLost(d.lost),
		// A partition that becomes fetchable while a fetch to its broker
		// is in flight waits for that fetch to return: bound the wait as
		// Kafka's own fetch.max.wait.ms does (kgo defaults to 5s).
		kgo.FetchMaxWait(d.c.pollWait),
	)
	opts = append(opts, d.c.clientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: group %q consumer for %s: %w", d.c.group, where(d.c, d.topic), err)
	}
	d.consumer = cl
	ctx, cancel := context.WithCancel(context.Background())
	go d.commitLoop(ctx)
	go func() { <-d.stop; cancel() }()
	return cl, nil
}

// Receive polls up to max records, waiting up to the poll wait for the
// first.
func (d *driver) Receive(ctx context.Context, max int) ([]kernel.Envelope, error) {
	cl, err := d.group()
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, d.c.pollWait)
	fs := cl.PollRecords(pctx, max)
	cancel()
	defer cl.AllowRebalance()
	if fs.IsClientClosed() {
		return nil, kernel.ErrClosed
	}
	var ferr error
	fs.EachError(func(topic string, partition int32, err error) {
		if ferr == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			ferr = fmt.Errorf("kafka: fetch topic %q partition %d in group %q: %w", topic, partition, d.c.group, err)
		}
	})
	if fs.NumRecords() == 0 {
		return nil, ferr
	}
	if ferr != nil {
		// The records must reach the kernel: report the error beside them.
		d.report(&kernel.Error{Op: "receive", Err: ferr})
	}
	n := fs.NumRecords()
	envs := make([]kernel.Envelope, 0, n)
	dvs := make([]delivery, n) // one allocation for the fetch's handles
	var rd reader
	ids := rd.collectIDs(fs)
	var pause map[string][]int32
	i, from := 0, 0
	var p *part // the records of a partition come together: look it up once
	d.mu.Lock()
	fs.EachRecord(func(r *kgo.Record) {
		id := ""
		if end := rd.spans[i]; end >= 0 {
			id, from = ids[from:end], end
		}
		env := rd.envelope(r, id)
		key := tp{r.Topic, r.Partition}
		if p == nil || p.tp != key {
			p = d.parts[key]
			if p == nil {
				p = &part{tp: key}
				d.parts[key] = p
			}
		}
		dv := &dvs[i]
		i++
		*dv = delivery{p: p, offset: r.Offset, epoch: r.LeaderEpoch, rec: r, attempt: env.Attempt}
		p.pending = append(p.pending, dv)
		if !p.paused && p.held() >= d.c.maxHeld {
			p.paused = true
			if pause == nil {
				pause = map[string][]int32{}
			}
			pause[key.topic] = append(pause[key.topic], key.partition)
		}
		env.Handle = dv
		envs = append(envs, env)
	})
	d.mu.Unlock()
	if len(pause) > 0 {
		// Records of these partitions already buffered by the client are
		// dropped and fetched again on resume, from where we left off.
		cl.PauseFetchPartitions(pause)
	}
	return envs, nil
}

// Ack counts deliveries as done; the committer commits each partition's
// contiguous done prefix.
func (d *driver) Ack(_ context.Context, handles []any) error {
	dvs := make([]*delivery, 0, len(handles))
	for _, h := range handles {
		if dv, ok := h.(*delivery); ok {
			dvs = append(dvs, dv)
		}
	}
	d.settle(dvs)
	return nil
}

// liveRecord returns dv's record while dv is unsettled and its partition
// still owned, nil otherwise.
func (d *driver) liveRecord(dv *delivery) *kgo.Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dv.done || dv.p.gone {
		return nil
	}
	return dv.rec
}

// settle marks deliveries done, moves their partitions' marks over the
// contiguous done prefix and wakes the committer.
func (d *driver) settle(dvs []*delivery) {
	moved := false
	resume := map[string][]int32{}
	d.mu.Lock()
	for _, dv := range dvs {
		if dv.done || dv.p.gone {
			continue
		}
		dv.done = true
		dv.rec = nil // only the offset is needed now
		p := dv.p
		moved = p.advance() || moved
		if p.paused && p.held() <= d.c.maxHeld/2 {
			p.paused = false
			resume[p.tp.topic] = append(resume[p.tp.topic], p.tp.partition)
		}
	}
	cl := d.consumer
	d.mu.Unlock()
	if len(resume) > 0 {
		cl.ResumeFetchPartitions(resume)
	}
	if moved {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// advance moves the mark over the done deliveries at the head of pending.
func (p *part) advance() bool {
	moved := false
	for p.head < len(p.pending) && p.pending[p.head].done {
		dv := p.pending[p.head]
		p.mark = kgo.EpochOffset{Epoch: dv.epoch, Offset: dv.offset + 1}
		p.pending[p.head] = nil
		p.head++
		moved = true
	}
	if p.head == len(p.pending) {
		p.pending, p.head = p.pending[:0], 0
	} else if p.head > 1024 && p.head > len(p.pending)/2 {
		p.pending, p.head = append(p.pending[:0], p.pending[p.head:]...), 0
	}
	if moved {
		p.dirty = true
	}
	return moved
}

func (d *driver) report(e *kernel.Error) {
	if d.k != nil {
		d.k.Report(e)
	}
}
