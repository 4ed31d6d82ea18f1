package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/swarm-go/swarm/kernel"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produce sends records and returns one error per record, nil when all were
// accepted. Errors the cluster will repeat (too large, not authorized) are
// marked permanent so the kernel does not retry them. It returns when every
// record is settled or ctx is done: the client keeps retrying records of an
// unreachable partition past their context and delivery timeout, so the
// wait is bounded here, and records still pending then fail with ctx's
// error (one may still land later: at least once).
func (d *driver) produce(ctx context.Context, rs []*kgo.Record) []error {
	return d.startProduce(ctx, rs)()
}

// startProduce hands the records to the producer, in order, and returns the
// wait for their outcome (produce's results).
func (d *driver) startProduce(ctx context.Context, rs []*kgo.Record) func() []error {
	// The delivery timeout bounds the wait as documented, even where the
	// client would keep retrying (no connection at all).
	ctx, cancel := context.WithTimeout(ctx, d.c.delivery)
	o := newOutcome(rs)
	// One promise for all records: a closure per record was one more
	// allocation per message. The record tells which one settled.
	promise := o.promise
	for _, r := range rs {
		d.producer.Produce(ctx, r, promise)
	}
	return func() []error {
		defer cancel()
		return o.wait(ctx)
	}
}

// outcome gathers the promises of one produce. The client calls promises
// one at a time on its own goroutine; they count down under a lock and the
// last one wakes the waiter. A channel send per promise, received one by
// one, had cost a wake-up of the waiting goroutine per record (a sixth of
// the driver's CPU per message sent).
type outcome struct {
	rs   []*kgo.Record
	done chan struct{} // closed by the last promise

	mu     sync.Mutex
	got    []*kgo.Record // settled so far, in the order promised
	failed []promised    // the settled ones that failed
}

// promised is a record that failed and its error.
type promised struct {
	r   *kgo.Record
	err error
}

func newOutcome(rs []*kgo.Record) *outcome {
	o := &outcome{rs: rs, got: make([]*kgo.Record, 0, len(rs)), done: make(chan struct{})}
	if len(rs) == 0 {
		close(o.done)
	}
	return o
}

// promise settles r; it is the promise of every record of the produce.
func (o *outcome) promise(r *kgo.Record, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, r)
	if err != nil {
		o.failed = append(o.failed, promised{r, err})
	}
	if len(o.got) == len(o.rs) {
		close(o.done)
	}
}

// wait returns one error per record once every record settled, or when ctx
// is done, with ctx's error for the records still pending. Records are
// looked up by pointer only when something failed, so that success costs
// no lookup.
func (o *outcome) wait(ctx context.Context) []error {
	select {
	case <-o.done:
	case <-ctx.Done():
	}
	// What settled by now stands; a record settling later still counts
	// as failed (at least once: it may have landed).
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(o.rs))
		}
		errs[i] = err
	}
	for _, res := range o.failed {
		if i := slices.Index(o.rs, res.r); i >= 0 {
			fail(i, classify(res.r.Topic, res.err))
		}
	}
	if len(o.got) == len(o.rs) {
		return errs
	}
	done := make(map[*kgo.Record]bool, len(o.got))
	for _, r := range o.got {
		done[r] = true
	}
	for i, r := range o.rs {
		if !done[r] {
			fail(i, fmt.Errorf("kafka: produce to topic %q: %w", r.Topic, ctx.Err()))
		}
	}
	return errs
}

func classify(topic string, err error) error {
	err = fmt.Errorf("kafka: produce to topic %q: %w", topic, err)
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		return kernel.Permanent(err)
	}
	return err
}
