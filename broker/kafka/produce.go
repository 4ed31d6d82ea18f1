package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/swarm-go/swarm/kernel"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produce sends the records of b and returns one error per record, nil
// when all were accepted. Errors the cluster will repeat (too large, not
// authorized) are marked permanent so the kernel does not retry them. It
// returns when every record is settled or ctx is done: the client keeps
// retrying records of an unreachable partition past their context and
// delivery timeout, so the wait is bounded here, and records still pending
// then fail with ctx's error (one may still land later: at least once).
func (d *driver) produce(ctx context.Context, b *builder) []error {
	return d.startProduce(ctx, b)()
}

// startProduce hands the records of b to the producer, in order, and
// returns the wait for their outcome (produce's results). Once every
// record settled, the wait gives b back for a later send; records the
// client may still hold (the wait gave up) stay with it.
func (d *driver) startProduce(ctx context.Context, b *builder) func() []error {
	// The delivery timeout bounds the wait as documented, even where the
	// client would keep retrying (no connection at all).
	ctx, cancel := context.WithTimeout(ctx, d.c.delivery)
	o := newOutcome(b.recs)
	// One promise for all records: a closure per record was one more
	// allocation per message. The record tells which one settled.
	promise := o.promise
	for i := range b.recs {
		d.producer.Produce(ctx, &b.recs[i], promise)
	}
	return func() []error {
		defer cancel()
		errs, all := o.wait(ctx)
		if all {
			b.release()
		}
		return errs
	}
}

// outcome gathers the promises of one produce. The client calls promises
// one at a time on its own goroutine; they count down under a lock and the
// last one wakes the waiter. A channel send per promise, received one by
// one, had cost a wake-up of the waiting goroutine per record (a sixth of
// the driver's CPU per message sent).
type outcome struct {
	recs []kgo.Record
	done chan struct{} // closed by the last promise

	mu      sync.Mutex
	settled int
	// The client promises the records of one partition in order, so the
	// settled ones are mostly a prefix: recs[:prefix], and those settled
	// ahead of it in early.
	prefix int
	early  []*kgo.Record
	failed []promised // the settled ones that failed
}

// promised is a record that failed and its error.
type promised struct {
	r   *kgo.Record
	err error
}

func newOutcome(recs []kgo.Record) *outcome {
	o := &outcome{recs: recs, done: make(chan struct{})}
	if len(recs) == 0 {
		close(o.done)
	}
	return o
}

// promise settles r; it is the promise of every record of the produce.
func (o *outcome) promise(r *kgo.Record, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.prefix < len(o.recs) && r == &o.recs[o.prefix] {
		o.prefix++
	} else {
		o.early = append(o.early, r)
	}
	if err != nil {
		o.failed = append(o.failed, promised{r, err})
	}
	o.settled++
	if o.settled == len(o.recs) {
		close(o.done)
	}
}

// wait returns one error per record once every record settled, or when ctx
// is done, with ctx's error for the records still pending; all reports
// whether every record settled. Records are looked up only when something
// failed, so that success costs no lookup.
func (o *outcome) wait(ctx context.Context) (errs []error, all bool) {
	select {
	case <-o.done:
	case <-ctx.Done():
	}
	// What settled by now stands; a record settling later still counts
	// as failed (at least once: it may have landed).
	o.mu.Lock()
	defer o.mu.Unlock()
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(o.recs))
		}
		errs[i] = err
	}
	for _, res := range o.failed {
		if i := o.index(res.r); i >= 0 {
			fail(i, classify(res.r.Topic, res.err))
		}
	}
	if o.settled == len(o.recs) {
		return errs, true
	}
	done := make(map[*kgo.Record]bool, len(o.early))
	for _, r := range o.early {
		done[r] = true
	}
	for i := o.prefix; i < len(o.recs); i++ {
		if r := &o.recs[i]; !done[r] {
			fail(i, fmt.Errorf("kafka: produce to topic %q: %w", r.Topic, ctx.Err()))
		}
	}
	return errs, false
}

// index returns the position of r in recs, -1 if it is not one of them.
func (o *outcome) index(r *kgo.Record) int {
	for i := range o.recs {
		if &o.recs[i] == r {
			return i
		}
	}
	return -1
}

func classify(topic string, err error) error {
	err = fmt.Errorf("kafka: produce to topic %q: %w", topic, err)
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		return kernel.Permanent(err)
	}
	return err
}
