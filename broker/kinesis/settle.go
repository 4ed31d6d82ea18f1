package kinesis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/swarm-go/swarm/broker/kinesis/kinesiswire"
	"github.com/swarm-go/swarm/kernel"
)

// Ack settles deliveries and advances the checkpoint of their shards over
// the contiguous settled prefix; an ack past a gap is held until the gap
// fills.
func (d *driver) Ack(ctx context.Context, handles []any) error {
	return d.settle(ctx, entries(handles))
}

// Nack puts each delivery again at the end of its shard (same partition
// key, attempt raised), then settles the original: Kinesis cannot deliver
// one record again. The delay is not honoured (Capabilities.Delay is
// false). Records whose re-put fails after a few tries stay unsettled, so
// the checkpoint stays before them and a restarted listener reads them
// again; the error says so.
func (d *driver) Nack(ctx context.Context, handles []any, _ time.Duration) error {
	return d.reput(ctx, d.stream, entries(handles), false)
}

// DeadLetter puts deliveries, category, id and attributes kept, on the
// dead-letter stream, then settles them.
func (d *dlqDriver) DeadLetter(ctx context.Context, handles []any) error {
	return d.reput(ctx, d.cfg.deadLetter, entries(handles), true)
}

func entries(handles []any) []*entry {
	es := make([]*entry, 0, len(handles))
	for _, h := range handles {
		if e, ok := h.(*entry); ok {
			es = append(es, e)
		}
	}
	return es
}

// settle marks es settled and saves the checkpoints that moved. Saves are
// serialised so that a store sees each shard's checkpoint only move forward.
func (d *driver) settle(ctx context.Context, es []*entry) error {
	if len(es) == 0 {
		return nil
	}
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	type save struct{ shard, seq string }
	var saves []save
	d.mu.Lock()
	var moved []*shard
	for _, e := range es {
		if e.done {
			continue
		}
		e.done = true
		e.env = kernel.Envelope{} // held behind a gap until it fills: keep the sequence number only
		if advance(e.sh) && !contains(moved, e.sh) {
			moved = append(moved, e.sh)
		}
	}
	for _, sh := range moved {
		saves = append(saves, save{sh.id, sh.last})
	}
	d.mu.Unlock()
	var first error
	for _, s := range saves {
		if err := d.store.Save(ctx, d.stream, s.shard, s.seq); err != nil && first == nil {
			first = fmt.Errorf("kinesis: save the checkpoint of %s/%s: %w", d.stream, s.shard, err)
		}
	}
	return first
}

// advance pops the settled prefix of sh's pending records, reporting
// whether the checkpoint moved; the caller holds d.mu.
func advance(sh *shard) bool {
	moved := false
	for sh.head < len(sh.pending) && sh.pending[sh.head].done {
		sh.last = sh.pending[sh.head].seq
		sh.pending[sh.head] = nil
		sh.head++
		moved = true
	}
	if sh.head == len(sh.pending) {
		sh.pending, sh.head = sh.pending[:0], 0
	} else if sh.head >= 1024 && 2*sh.head >= len(sh.pending) {
		n := copy(sh.pending, sh.pending[sh.head:])
		clear(sh.pending[n:])
		sh.pending, sh.head = sh.pending[:n], 0
	}
	return moved
}

func contains(list []*shard, sh *shard) bool {
	for _, s := range list {
		if s == sh {
			return true
		}
	}
	return false
}

// reputTries bounds the PutRecords calls per record in Nack and DeadLetter.
const reputTries = 4

// reput puts the records of es on stream, re-framed (attempt raised, or
// reset for a dead letter), and settles those accepted. Records failed by
// PutRecords are tried again a few times with backoff.
func (d *driver) reput(ctx context.Context, stream string, es []*entry, dead bool) error {
	d.mu.Lock()
	live := es[:0:0]
	for _, e := range es {
		if !e.done { // settled twice: the first settlement stands
			live = append(live, e)
		}
	}
	d.mu.Unlock()
	es = live
	var lastErr, saveErr error
	delay := 50 * time.Millisecond
	for try := 0; len(es) > 0; try++ {
		if try > 0 {
			if try == reputTries || !sleep(ctx, delay) {
				break
			}
			delay *= 2
		}
		var failed []*entry
		for len(es) > 0 {
			n, size := 0, 0
			for n < len(es) && n < MaxRecords {
				sz := len(es[n].env.Payload) + headerReserve
				if n > 0 && size+sz > maxCallBytes {
					break
				}
				size += sz
				n++
			}
			chunk := es[:n]
			es = es[n:]
			recs := make([]types.PutRecordsRequestEntry, n)
			for i, e := range chunk {
				attempt := e.env.Attempt
				if dead {
					attempt = 0 // a fresh message on the dead-letter stream
				}
				key := e.key
				if key == "" {
					key = d.partitionKey(&e.env)
				}
				recs[i] = types.PutRecordsRequestEntry{Data: kinesiswire.Frame(&e.env, attempt), PartitionKey: aws.String(key)}
			}
			errs := d.put(ctx, stream, recs)
			var ok []*entry
			for i, e := range chunk {
				if errs == nil || errs[i] == nil {
					ok = append(ok, e)
				} else {
					lastErr = errs[i]
					failed = append(failed, e)
				}
			}
			if err := d.settle(ctx, ok); err != nil {
				saveErr = err
			}
		}
		es = failed
	}
	if len(es) > 0 {
		what := "re-put"
		if dead {
			what = "dead-letter"
		}
		return fmt.Errorf("kinesis: %s of %d records to %s failed, left unsettled (a restart reads them again): %w",
			what, len(es), stream, errors.Join(lastErr, saveErr))
	}
	return saveErr
}
