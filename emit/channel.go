package emit

import (
	"context"
	"errors"
	"slices"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/internal/parallel"
	"github.com/swarm-go/swarm/kernel"
)

// channel starts the goroutine that drains enq into batches.
// builtin says codec is the built-in codec of T (see encoder.keep).
func channel[T any](q swarm.Broker, codec swarm.Codec[T], typ string, stamp func(T, string) T, builtin bool) (chan<- T, <-chan T) {
	k := q.Kernel()
	cfg := k.Config()
	enq := make(chan T, cfg.EmitCapacity)
	dlq := make(chan T, cfg.DeadLetterCapacity)
	e, err := register(q, codec.Category(), typ, true)
	if err != nil {
		close(dlq)
		go sink(k, codec.Category(), enq)
		return enq, dlq
	}
	caps := k.Capabilities()
	w := &pump[T]{
		enc:   newEncoder(e, codec, stamp, builtin),
		enq:   enq,
		dlq:   dlq,
		limit: max(caps.MaxBatch*max(caps.SendConcurrency, 1), 1),
		bytes: caps.MaxBatchBytes * max(caps.SendConcurrency, 1),
		out:   make(chan batch[T]),
		spare: make(chan batch[T], window+1), // every batch that can exist at once
		sent:  make(chan struct{}),
	}
	go w.send()
	go w.run()
	return enq, dlq
}

// pump moves values from enq to the broker in order, batch by batch. Two
// goroutines share the work: run encodes values into the next batch while
// send waits for the broker to accept the previous one, so the round trip
// of a send is not paid again for the encoding, and values that arrive
// during a send make up the next batch (larger batches when the broker is
// slow, one-value batches when it keeps up). At most window+1 batches of
// limit values exist at once: those in flight and the one being filled.
type pump[T any] struct {
	enc   *encoder[T]
	enq   chan T
	dlq   chan T
	limit int // values per batch
	bytes int // payload bytes per batch, when > 0

	cur   batch[T]      // being filled by run
	out   chan batch[T] // run -> send, unbuffered
	spare chan batch[T] // send -> run, emptied batches for reuse
	sent  chan struct{} // closed when send returns

	size    int // payload bytes of the values encoded last, on average
	took    []T // values taken from enq, being encoded
	encoded []kernel.Envelope
	failed  []error
}

// batch is values and their envelopes, in order; done, when set, is closed
// once the batch and every one before it were sent (a flush).
type batch[T any] struct {
	vals  []T
	envs  []kernel.Envelope
	bytes int
	done  chan struct{}
}

// full reports whether the batch being filled has reached a limit.
func (w *pump[T]) full() bool {
	return len(w.cur.envs) >= w.limit || (w.bytes > 0 && w.cur.bytes >= w.bytes)
}

func (w *pump[T]) run() {
	closing := w.enc.e.Kernel().Closing()
	flushes := w.enc.e.Flushes()
	for {
		if !w.drain(false) {
			w.finish(false)
			return
		}
		// With a batch in hand, hand it over as soon as send is free;
		// meanwhile keep filling it while there is room.
		var out chan batch[T]
		var in chan T
		if len(w.cur.envs) > 0 {
			out = w.out
		}
		if !w.full() {
			in = w.enq
		}
		select {
		case out <- w.cur:
			w.cur = w.fresh()
		case v, ok := <-in:
			if !ok {
				w.finish(false)
				return
			}
			w.add(v)
		case done := <-flushes:
			open := w.drain(true)
			w.handOver(done)
			if !open {
				w.finish(false)
				return
			}
		case <-closing:
			// Flush everything handed over before Close, then report what
			// comes later.
			open := w.drain(true)
			w.finish(open)
			return
		}
	}
}

// drain adds the values already buffered on enq without waiting, until
// the current batch is full, or all of them with all set (then full batches
// are handed over, waiting for send). It reports whether enq is still open.
func (w *pump[T]) drain(all bool) bool {
	for {
		if w.full() {
			if !all {
				return true
			}
			w.handOver(nil)
		}
		open := w.take(w.room())
		if len(w.took) == 0 {
			return open
		}
		w.addTaken()
		if !open {
			return false
		}
	}
}

// room is how many values the current batch can still take: by count, and
// by bytes at the size of the values encoded last (one at first), so a
// group encoded at once overshoots the byte bound by one value at most.
func (w *pump[T]) room() int {
	n := w.limit - len(w.cur.envs)
	switch {
	case w.bytes <= 0:
	case w.size == 0:
		n = min(n, 1)
	default:
		n = min(n, max((w.bytes-w.cur.bytes)/w.size, 1))
	}
	return n
}

// take moves up to max values already buffered on enq to took, without
// waiting. It reports whether enq is still open.
func (w *pump[T]) take(max int) bool {
	for len(w.took) < max {
		select {
		case v, ok := <-w.enq:
			if !ok {
				return false
			}
			w.took = append(w.took, v)
		default:
			return true
		}
	}
	return true
}

// addTaken encodes the values taken, on several goroutines when they are
// many (encoding is most of an emitter's CPU time), and adds them to the
// current batch in the order taken.
func (w *pump[T]) addTaken() {
	n := len(w.took)
	w.encoded = slices.Grow(w.encoded[:0], n)[:n]
	w.failed = slices.Grow(w.failed[:0], n)[:n]
	encode := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			w.encoded[i], w.failed[i] = w.enc.envelope(w.took[i])
		}
	}
	if w.enc.keep {
		encode(0, n) // a value kept is not worth a goroutine
	} else {
		parallel.Range(n, encode)
	}
	size := 0
	for i, v := range w.took {
		size += len(w.encoded[i].Payload)
		w.append(v, w.encoded[i], w.failed[i])
	}
	w.size = size/n + 1
	clear(w.took)
	clear(w.encoded)
	clear(w.failed)
	w.took = w.took[:0]
}

// handOver gives the current batch to send, waiting until it takes it, and
// starts a new one. With done set, send closes it once the batch is sent,
// even an empty batch.
func (w *pump[T]) handOver(done chan struct{}) {
	if len(w.cur.envs) == 0 && done == nil {
		return
	}
	w.cur.done = done
	w.out <- w.cur
	w.cur = w.fresh()
}

// finish hands over what remains, waits until send has sent it, and closes
// dlq. With open set (Close came before the application closed enq), later
// values are reported as not sent.
func (w *pump[T]) finish(open bool) {
	w.handOver(nil)
	close(w.out)
	<-w.sent
	w.stop()
	if open {
		sink(w.enc.e.Kernel(), w.enc.e.Category(), w.enq)
	}
}

// fresh returns an empty batch, reusing one send has finished with.
func (w *pump[T]) fresh() batch[T] {
	select {
	case b := <-w.spare:
		return b
	default:
		return batch[T]{}
	}
}

func (w *pump[T]) add(v T) {
	env, err := w.enc.envelope(v)
	w.append(v, env, err)
}

// append adds v, encoded as env, to the current batch, or dead-letters it
// when its encoding failed.
func (w *pump[T]) append(v T, env kernel.Envelope, err error) {
	if err != nil {
		w.enc.e.Kernel().Report(&kernel.Error{Op: "emit", Category: w.enc.e.Category(), Err: err})
		w.deadLetter(v)
		return
	}
	w.cur.vals = append(w.cur.vals, v)
	w.cur.envs = append(w.cur.envs, env)
	w.cur.bytes += len(env.Payload)
}

// send sends the batches run hands over, in order, until run closes out:
// up to window at once where Kernel.Start returns before the batch is sent
// (an asynchronous driver, or one whose sends may overlap), else one at a
// time. Batches finish in the order they were sent.
func (w *pump[T]) send() {
	defer close(w.sent)
	var flying []inFlight[T] // oldest first
	in := w.out
	for in != nil || len(flying) > 0 {
		var oldest <-chan []error
		if len(flying) > 0 {
			oldest = flying[0].res
		}
		take := in
		if len(flying) >= window {
			take = nil
		}
		select {
		case b, ok := <-take:
			if !ok {
				in = nil
				continue
			}
			res := done
			if len(b.envs) > 0 {
				res = w.enc.e.Start(context.Background(), b.envs)
			}
			flying = append(flying, inFlight[T]{b: b, res: res})
		case errs := <-oldest:
			w.finished(flying[0].b, errs)
			flying[0] = inFlight[T]{}
			flying = flying[1:]
		}
	}
}

// window is how many batches of one channel are in flight at once with a
// driver that sends asynchronously (kernel.AsyncSender) or whose sends may
// overlap (SendConcurrency above 1, no order promised; the kernel then
// bounds the calls at once); other drivers send one batch at a time.
// Batches are small while the broker keeps up (each is what arrived
// during the previous hand-over), so it takes many to keep a round trip's
// worth of messages in flight: on NATS, 16 instead of 4 took 100-byte
// sends from 0.76x to 0.95x of the raw client's PublishAsync in one run of
// bench/. A batch holds at most MaxBatch values, so this bounds the values
// in flight per channel.
const window = 16

// inFlight is a batch handed to the kernel and the channel its results
// arrive on.
type inFlight[T any] struct {
	b   batch[T]
	res <-chan []error
}

// done is the result of a batch with nothing to send (a flush request).
var done = func() <-chan []error {
	c := make(chan []error, 1)
	c <- nil
	close(c)
	return c
}()

// finished dead-letters what b failed to send, tells a flush waiting on it,
// and keeps its buffers for reuse.
func (w *pump[T]) finished(b batch[T], errs []error) {
	for i, err := range errs {
		if err != nil {
			w.deadLetter(b.vals[i])
		}
	}
	if b.done != nil {
		close(b.done)
	}
	clear(b.vals)
	clear(b.envs)
	b.vals, b.envs, b.bytes, b.done = b.vals[:0], b.envs[:0], 0, nil
	select {
	case w.spare <- b:
	default:
	}
}

// deadLetter hands v back to the application without ever blocking the
// pump; when dlq is full, the error report already sent is all that remains.
func (w *pump[T]) deadLetter(v T) {
	select {
	case w.dlq <- v:
	default:
		w.enc.e.Kernel().Report(&kernel.Error{Op: "dead-letter", Category: w.enc.e.Category(),
			Err: errors.New("emit dead-letter channel is full; value dropped (read dlq or wrap it in swarm.LogDeadLetters)")})
	}
}

func (w *pump[T]) stop() {
	close(w.dlq)
	w.enc.e.Done()
}

// sink reports each value sent on enq after Close, until the application
// closes enq.
func sink[T any](k *kernel.Kernel, category string, enq <-chan T) {
	for range enq {
		k.Report(&kernel.Error{Op: "emit", Category: category, Err: swarm.ErrClosed})
	}
}
