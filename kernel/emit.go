package kernel

import (
	"context"
	"fmt"
	"time"
)

// Emitter is the kernel's side of one emit channel or synchronous writer:
// it publishes batches of one category in order, with retries.
type Emitter struct {
	k        *Kernel
	category string
	loop     bool
	flushes  chan chan struct{}
	// slots holds a token per chunk being sent by Start, up to the
	// driver's SendConcurrency, when sends of that driver may overlap
	// (see pipelined); nil otherwise.
	slots chan struct{}
}

// Emitter registers an emitter of category for the Go type named typ. With
// loop set, the caller runs a goroutine that Close waits for: it must call
// Done once it has flushed after Closing. It fails when the broker cannot
// send, is closed, or category belongs to another type.
func (k *Kernel) Emitter(category, typ string, loop bool) (*Emitter, error) {
	if k.tx == nil {
		return nil, fmt.Errorf("swarm: %s cannot emit: its driver is not a Sender", k.queue)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.claim(category, typ); err != nil {
		return nil, err
	}
	e := &Emitter{k: k, category: category, loop: loop}
	if k.pipelined() {
		e.slots = make(chan struct{}, k.caps.SendConcurrency)
	}
	if loop {
		k.emitters.Add(1)
		e.flushes = make(chan chan struct{})
		k.pumps = append(k.pumps, e)
	}
	return e, nil
}

// Flushes delivers flush requests to the emit goroutine: it must send what
// its channel holds and then close the request.
func (e *Emitter) Flushes() <-chan chan struct{} { return e.flushes }

// Category is the category this emitter sends.
func (e *Emitter) Category() string { return e.category }

// Kernel is the kernel the emitter belongs to.
func (e *Emitter) Kernel() *Kernel { return e.k }

// Done tells Close that the emit goroutine has flushed.
func (e *Emitter) Done() {
	if e.loop {
		e.loop = false
		e.k.emitters.Done()
	}
}

// Envelope returns an envelope of the emitter's category with a new id.
func (e *Emitter) Envelope(payload []byte) Envelope {
	return Envelope{Category: e.category, ID: e.k.NewID(), Payload: payload}
}

// Send publishes batch in order, split by the driver's batch limits, and
// gives an id to every envelope without one. It retries failed envelopes by
// the Retry backoff until they are accepted, their error is permanent, their
// attempts run out or ctx is done. It returns nil when all were accepted, or
// one error per envelope (nil where accepted); each failure is also reported
// on the error side channel.
func (e *Emitter) Send(ctx context.Context, batch []Envelope) []error {
	k := e.k
	k.assignIDs(batch)
	o := e.outcome(batch)
	chunks := o.split()
	results := make([][]error, len(chunks))
	par := 1
	if !k.caps.Ordered {
		par = k.caps.SendConcurrency
	}
	each(len(chunks), par, func(c int) { results[c] = e.sendChunk(ctx, o.gather(chunks[c]), nil) })
	return o.collect(chunks, results)
}

// Start sends batch as Send does, but returns as soon as the batch is
// handed over, with an AsyncSender driver or one whose sends may overlap
// (see pipelined): its results (Send's) arrive on the returned channel.
// Batches an AsyncSender started in order reach the broker in that order.
// With any other driver it sends before returning, and the channel is
// ready.
func (e *Emitter) Start(ctx context.Context, batch []Envelope) <-chan []error {
	res := make(chan []error, 1)
	as, async := e.k.tx.(AsyncSender)
	if !async && e.slots == nil {
		res <- e.Send(ctx, batch)
		return res
	}
	e.k.assignIDs(batch)
	o := e.outcome(batch)
	chunks := o.split()
	// waits[c] returns chunk c's results, its retries included.
	waits := make([]func() []error, len(chunks))
	for c, idx := range chunks {
		chunk := o.gather(idx)
		if async {
			first := as.SendAsync(ctx, chunk)
			waits[c] = func() []error { return e.sendChunk(ctx, chunk, first) }
		} else {
			waits[c] = e.startChunk(ctx, chunk)
		}
	}
	go func() {
		results := make([][]error, len(chunks))
		for c, wait := range waits {
			results[c] = wait()
		}
		res <- o.collect(chunks, results)
	}()
	return res
}

// pipelined reports whether the driver's sends may overlap without an
// order to keep: several chunks at once (SendConcurrency), the broker
// promising no order. Start then keeps that many chunk sends going, each
// started as soon as one ends, across the batches of a channel. Sending a
// batch's chunks together and waiting for all of them before the next
// batch (Send) leaves the other calls idle while the slowest one ends:
// seven of eight SendMessageBatch calls of SQS, whose raw client keeps
// eight senders busy.
func (k *Kernel) pipelined() bool {
	_, async := k.tx.(AsyncSender)
	return !async && !k.caps.Ordered && k.caps.SendConcurrency > 1
}

// startChunk sends chunk, with its retries, on a goroutine of its own once
// one of the emitter's slots is free (waiting for one: that is the
// backpressure), and returns the wait for its results.
func (e *Emitter) startChunk(ctx context.Context, chunk []Envelope) func() []error {
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		errs := fillPending(nil, len(chunk), nil, len(chunk), ctx.Err())
		return func() []error { return errs }
	}
	done := make(chan []error, 1)
	go func() {
		defer func() { <-e.slots }()
		done <- e.sendChunk(ctx, chunk, nil)
	}()
	return func() []error { return <-done }
}

// outcome gathers the results of one batch, reporting each failure.
type outcome struct {
	k     *Kernel
	batch []Envelope
	errs  []error
}

func (e *Emitter) outcome(batch []Envelope) *outcome {
	return &outcome{k: e.k, batch: batch}
}

func (o *outcome) fail(i int, err error) {
	if o.errs == nil {
		o.errs = make([]error, len(o.batch))
	}
	o.errs[i] = err
	o.k.Report(&Error{Op: "emit", Category: o.batch[i].Category, ID: o.batch[i].ID, Err: err})
}

// split cuts the batch into chunks that fit the driver's limits, each
// holding the positions of its envelopes; a payload over MaxPayload fails
// at once.
func (o *outcome) split() [][]int {
	caps := o.k.caps
	if o.fits() {
		return whole
	}
	var chunks [][]int
	var cur []int
	size := 0
	for i := range o.batch {
		n := len(o.batch[i].Payload)
		if caps.MaxPayload > 0 && n > caps.MaxPayload {
			o.fail(i, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, n, caps.MaxPayload))
			continue
		}
		if len(cur) == caps.MaxBatch || (caps.MaxBatchBytes > 0 && len(cur) > 0 && size+n > caps.MaxBatchBytes) {
			chunks, cur, size = append(chunks, cur), nil, 0
		}
		cur = append(cur, i)
		size += n
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

// whole is split's answer for a batch that fits the driver's limits as it
// is: one chunk, nil standing for every position. It is never modified.
var whole = [][]int{nil}

// fits reports whether the batch is one chunk within every limit of the
// driver, the common case, which then needs no index slices.
func (o *outcome) fits() bool {
	caps := o.k.caps
	if len(o.batch) == 0 || len(o.batch) > caps.MaxBatch {
		return false
	}
	size := 0
	for i := range o.batch {
		n := len(o.batch[i].Payload)
		if caps.MaxPayload > 0 && n > caps.MaxPayload {
			return false
		}
		size += n
	}
	return caps.MaxBatchBytes <= 0 || size <= caps.MaxBatchBytes
}

// gather returns the envelopes at idx: the batch itself when idx is all of
// it (or nil, see whole), so the common case copies nothing.
func (o *outcome) gather(idx []int) []Envelope {
	if idx == nil || len(idx) == len(o.batch) {
		return o.batch
	}
	chunk := make([]Envelope, len(idx))
	for j, i := range idx {
		chunk[j] = o.batch[i]
	}
	return chunk
}

// collect maps the chunks' results back to batch positions.
func (o *outcome) collect(chunks [][]int, results [][]error) []error {
	for c, errs := range results {
		for pos, err := range errs {
			if err == nil {
				continue
			}
			if chunks[c] != nil {
				pos = chunks[c][pos]
			}
			o.fail(pos, err)
		}
	}
	return o.errs
}

// sendChunk sends one chunk that fits the driver's limits, retrying the
// failed positions. It returns the final error per position, or nil. With
// first set, the first attempt was already started and first waits for it.
func (e *Emitter) sendChunk(ctx context.Context, chunk []Envelope, first func() []error) []error {
	k := e.k
	pending := chunk
	where := []int(nil) // position in chunk of pending[i]; nil while pending == chunk
	var final []error
	for attempt := 1; ; attempt++ {
		var errs []error
		if attempt == 1 && first != nil {
			errs = first() // always waited for: the driver holds the chunk until then
		} else {
			if err := ctx.Err(); err != nil {
				return fillPending(final, len(chunk), where, len(pending), err)
			}
			errs = k.tx.Send(ctx, pending)
		}
		if errs == nil {
			return final
		}
		if len(errs) != len(pending) {
			err := fmt.Errorf("driver returned %d results for %d envelopes", len(errs), len(pending))
			return fillPending(final, len(chunk), where, len(pending), err)
		}
		var retryAt []int
		var retry []Envelope
		for i, err := range errs {
			if err == nil {
				continue
			}
			pos := i
			if where != nil {
				pos = where[i]
			}
			if IsPermanent(err) || attempt >= k.cfg.Retry.Attempts() {
				if final == nil {
					final = make([]error, len(chunk))
				}
				if !IsPermanent(err) {
					err = fmt.Errorf("after %d attempts: %w", attempt, err)
				}
				final[pos] = err
				continue
			}
			retryAt = append(retryAt, pos)
			retry = append(retry, pending[i])
		}
		if len(retry) == 0 {
			return final
		}
		pending, where = retry, retryAt
		if !sleep(ctx, k.cfg.Retry.Delay(attempt)) {
			return fillPending(final, len(chunk), where, len(pending), ctx.Err())
		}
	}
}

func fillPending(final []error, n int, where []int, pending int, err error) []error {
	if final == nil {
		final = make([]error, n)
	}
	for i := range pending {
		pos := i
		if where != nil {
			pos = where[i]
		}
		final[pos] = err
	}
	return final
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
