package kinesis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/swarm-go/swarm/broker/kinesis/kinesiswire"
	"github.com/swarm-go/swarm/kernel"
)

// shard is a listener's state of one shard. Its fields are guarded by
// driver.mu.
type shard struct {
	id      string
	parents []string
	started bool
	ended   bool     // read to the end of a closed shard
	pending []*entry // read, in shard order; settled ones before head are gone
	head    int
	last    string // sequence number of the last record of the settled prefix
}

// entry is one record read from a shard; *entry is the delivery handle.
type entry struct {
	sh   *shard
	seq  string
	key  string
	env  kernel.Envelope
	done bool // settled: acked, re-put or dead-lettered
}

// receiveWait bounds how long Receive waits for a first record; the kernel
// calls again at once, and cancels the wait on Close.
const receiveWait = time.Second

// Receive returns up to max records read ahead by the shard readers, which
// the first call starts. It waits up to a second for the first.
func (d *driver) Receive(ctx context.Context, max int) ([]kernel.Envelope, error) {
	d.startOnce.Do(d.start)
	timer := time.NewTimer(receiveWait)
	defer timer.Stop()
	var out []kernel.Envelope
	select {
	case env := <-d.recs:
		out = make([]kernel.Envelope, 0, min(max, 1+len(d.recs)))
		out = append(out, env)
	case err := <-d.errs:
		return nil, err
	case <-ctx.Done():
		return nil, nil
	case <-timer.C:
		return nil, nil
	}
	for len(out) < max {
		select {
		case env := <-d.recs:
			out = append(out, env)
		default:
			return out, nil
		}
	}
	return out, nil
}

// report hands a reader's error to the next Receive, which the kernel
// reports; errors beyond the small buffer are dropped, as they repeat.
func (d *driver) report(err error) {
	select {
	case d.errs <- err:
	default:
	}
}

func (d *driver) start() {
	d.wg.Add(1)
	go d.discover()
}

// discover lists the shards and starts a reader on each whose parents are
// read to their end, again every refresh interval and whenever a shard ends.
func (d *driver) discover() {
	defer d.wg.Done()
	for {
		wait := d.cfg.refresh
		if err := d.refreshShards(d.ctx); err != nil {
			if d.ctx.Err() != nil {
				return
			}
			d.report(err)
			wait = min(wait, time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-d.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-d.wake:
			t.Stop()
		}
	}
}

func (d *driver) refreshShards(ctx context.Context) error {
	var listed []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(d.stream)}
	for {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
		out, err := d.c.ListShards(cctx, in)
		cancel()
		if err != nil {
			return fmt.Errorf("kinesis: ListShards of %s at %s: %w", d.stream, hostOf(d.where), err)
		}
		listed = append(listed, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range listed {
		id := aws.ToString(s.ShardId)
		if _, ok := d.shards[id]; ok {
			continue
		}
		sh := &shard{id: id}
		for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
			if p != nil {
				sh.parents = append(sh.parents, *p)
			}
		}
		d.shards[id] = sh
	}
	for _, sh := range d.shards {
		if !sh.started && d.parentsEnded(sh) {
			sh.started = true
			d.wg.Add(1)
			go d.read(sh)
		}
	}
	return nil
}

// parentsEnded reports whether the parents of sh are read to their end (or
// gone from the stream, past its retention); the caller holds d.mu.
func (d *driver) parentsEnded(sh *shard) bool {
	for _, p := range sh.parents {
		if ps, ok := d.shards[p]; ok && !ps.ended {
			return false
		}
	}
	return true
}

// read reads one shard from its checkpoint (its start when none) into the
// buffer until the shard ends or the driver closes. Errors are reported and
// retried with backoff, with a fresh iterator after the last record read,
// so a broker restart or an expired iterator loses and repeats nothing.
func (d *driver) read(sh *shard) {
	defer d.wg.Done()
	ctx := d.ctx
	var (
		pos, iter string
		loaded    bool
		delay     time.Duration
	)
	backoff := func() { delay = min(max(2*delay, 50*time.Millisecond), 5*time.Second) }
	for ctx.Err() == nil {
		if delay > 0 && !sleep(ctx, delay) {
			return
		}
		if !loaded {
			seq, err := d.store.Load(ctx, d.stream, sh.id)
			if err != nil {
				d.report(fmt.Errorf("kinesis: load the checkpoint of %s/%s: %w", d.stream, sh.id, err))
				backoff()
				continue
			}
			pos, loaded = seq, true
		}
		if iter == "" {
			it, err := d.iterator(ctx, sh.id, pos)
			var gone *types.ResourceNotFoundException
			switch {
			case errors.As(err, &gone) && ctx.Err() == nil:
				d.end(sh) // trimmed away past retention
				return
			case err != nil:
				if ctx.Err() == nil {
					d.report(err)
				}
				backoff()
				continue
			}
			iter = it
		}
		cctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
		out, err := d.c.GetRecords(cctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(iter), Limit: aws.Int32(int32(d.cfg.buffer))})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var expired *types.ExpiredIteratorException
			var throttled *types.ProvisionedThroughputExceededException
			switch {
			case errors.As(err, &expired):
				iter = ""
			case errors.As(err, &throttled):
				backoff()
			default:
				d.report(fmt.Errorf("kinesis: GetRecords of %s/%s at %s: %w", d.stream, sh.id, hostOf(d.where), err))
				iter = ""
				backoff()
			}
			continue
		}
		delay = 0
		for i := range out.Records {
			e := d.entryOf(sh, &out.Records[i])
			d.mu.Lock()
			sh.pending = append(sh.pending, e)
			d.mu.Unlock()
			select {
			case d.recs <- e.env:
			case <-ctx.Done():
				return // read but never delivered: the checkpoint stays before it
			}
			pos = e.seq
		}
		if out.NextShardIterator == nil {
			d.end(sh)
			return
		}
		iter = *out.NextShardIterator
		// An empty answer while behind the tip is a gap in a sparse shard,
		// not its end: read on at once.
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			delay = d.cfg.pollInterval
		}
	}
}

func (d *driver) iterator(ctx context.Context, shardID, after string) (string, error) {
	in := &kinesis.GetShardIteratorInput{
		StreamName: aws.String(d.stream), ShardId: aws.String(shardID),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	}
	if after != "" {
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(after)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
	defer cancel()
	out, err := d.c.GetShardIterator(ctx, in)
	if err != nil {
		return "", fmt.Errorf("kinesis: GetShardIterator of %s/%s at %s: %w", d.stream, shardID, hostOf(d.where), err)
	}
	return aws.ToString(out.ShardIterator), nil
}

// end marks sh read to its end and wakes discovery to start its children.
func (d *driver) end(sh *shard) {
	d.mu.Lock()
	sh.ended = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// entryOf decodes a record. A record of another producer (no swarm frame)
// or a broken frame is delivered as a bare payload with the default category
// (none unless WithDefaultCategory), its id the shard and sequence number.
func (d *driver) entryOf(sh *shard, r *types.Record) *entry {
	e := &entry{sh: sh, seq: aws.ToString(r.SequenceNumber), key: aws.ToString(r.PartitionKey)}
	e.env = kinesiswire.Decode(r.Data)
	if e.env.ID == "" {
		e.env.ID = sh.id + "/" + e.seq
	}
	if e.env.Category == "" {
		e.env.Category = d.cfg.defaultCat
	}
	e.env.Handle = e
	return e
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
