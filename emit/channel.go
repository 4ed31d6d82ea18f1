package emit

import (
	"context"
	"errors"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// channel starts the goroutine that drains enq into batches.
func channel[T any](q swarm.Broker, codec swarm.Codec[T], typ string, stamp func(T, string) T) (chan<- T, <-chan T) {
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
		enc:   encoder[T]{e: e, codec: codec, stamp: stamp},
		enq:   enq,
		dlq:   dlq,
		limit: max(caps.MaxBatch*max(caps.SendConcurrency, 1), 1),
	}
	go w.run()
	return enq, dlq
}

// pump moves values from enq to the broker in order, batch by batch.
type pump[T any] struct {
	enc   encoder[T]
	enq   chan T
	dlq   chan T
	limit int

	vals []T
	envs []kernel.Envelope
}

func (w *pump[T]) run() {
	closing := w.enc.e.Kernel().Closing()
	for {
		select {
		case v, ok := <-w.enq:
			if !ok {
				w.stop()
				return
			}
			w.add(v)
			open := w.drain(w.limit)
			w.flush()
			if !open {
				w.stop()
				return
			}
		case done := <-w.enc.e.Flushes():
			open := w.drain(-1)
			w.flush()
			close(done)
			if !open {
				w.stop()
				return
			}
		case <-closing:
			// Flush everything handed over before Close, then report what
			// comes later.
			open := w.drain(-1)
			w.flush()
			w.stop()
			if open {
				sink(w.enc.e.Kernel(), w.enc.e.Category(), w.enq)
			}
			return
		}
	}
}

// drain adds the values already buffered on enq, up to limit (all when
// limit < 0), flushing whenever a batch is full. It reports whether enq is
// still open.
func (w *pump[T]) drain(limit int) bool {
	for limit < 0 || len(w.envs) < limit {
		select {
		case v, ok := <-w.enq:
			if !ok {
				return false
			}
			w.add(v)
			if limit < 0 && len(w.envs) >= w.limit {
				w.flush()
			}
		default:
			return true
		}
	}
	return true
}

func (w *pump[T]) add(v T) {
	env, err := w.enc.envelope(v)
	if err != nil {
		w.enc.e.Kernel().Report(&kernel.Error{Op: "emit", Category: w.enc.e.Category(), Err: err})
		w.deadLetter(v)
		return
	}
	w.vals = append(w.vals, v)
	w.envs = append(w.envs, env)
}

func (w *pump[T]) flush() {
	if len(w.envs) == 0 {
		return
	}
	errs := w.enc.e.Send(context.Background(), w.envs)
	for i, err := range errs {
		if err != nil {
			w.deadLetter(w.vals[i])
		}
	}
	clear(w.vals)
	clear(w.envs)
	w.vals, w.envs = w.vals[:0], w.envs[:0]
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
