package listen

import (
	"context"
	"fmt"
	"slices"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/internal/parallel"
	"github.com/swarm-go/swarm/internal/unencoded"
	"github.com/swarm-go/swarm/kernel"
)

// decode turns deliveries into messages on deq until Close. A batch large
// enough is decoded by several goroutines at once (payload decoding is
// most of a consumer's CPU time, and brokers hand over hundreds of messages
// at a time); the messages still reach deq in the order of the batch.
func decode[T any](in *kernel.Inbox, codec swarm.Codec[T], deq chan<- swarm.Msg[T]) {
	defer in.Done()
	defer close(deq)
	closing := in.Kernel().Closing()
	var b decoded[T]
	for {
		select {
		case ds := <-in.Deliveries():
			b.decode(codec, ds)
			for i, d := range ds {
				if err := b.errs[i]; err != nil {
					in.Reject(context.Background(), d, fmt.Errorf("%w as %s: %w", swarm.ErrDecode, swarm.TypeName[T](), err))
					continue
				}
				if !deliver(deq, swarm.Msg[T]{Object: b.vals[i], Digest: d}, closing) {
					b.reset()
					in.Abandon(ds[i:])
					return
				}
				in.Delivered(1)
			}
			b.reset()
		case <-closing:
			for {
				select {
				case ds := <-in.Deliveries():
					in.Abandon(ds)
				default:
					return
				}
			}
		}
	}
}

// deliver puts m on deq, waiting while deq is full, and reports false,
// without putting it, once closing is closed. While the application keeps
// up it costs a plain channel send: a select over two channels locks both
// (BenchmarkEmitListenAck of broker/memory: 3,973 -> 3,831 CPU ns per
// message, medians of 5 interleaved pairs).
func deliver[T any](deq chan<- swarm.Msg[T], m swarm.Msg[T], closing <-chan struct{}) bool {
	select {
	case <-closing:
		return false
	default:
	}
	select {
	case deq <- m:
		return true
	default:
	}
	select {
	case deq <- m:
		return true
	case <-closing:
		return false
	}
}

// decoded holds the values and errors of one batch, reused batch to batch.
type decoded[T any] struct {
	vals []T
	errs []error
}

// decode fills vals and errs for ds, on several goroutines when the batch
// is large.
func (b *decoded[T]) decode(codec swarm.Codec[T], ds []kernel.Digest) {
	b.vals = slices.Grow(b.vals[:0], len(ds))[:len(ds)]
	b.errs = slices.Grow(b.errs[:0], len(ds))[:len(ds)]
	decode := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			b.vals[i], b.errs[i] = unencoded.Decode(codec, ds[i].Envelope())
		}
	}
	if len(ds) > 0 && ds[0].Envelope().Value != nil {
		decode(0, len(ds)) // values kept unencoded are not worth a goroutine
		return
	}
	parallel.Range(len(ds), decode)
}

// reset drops the references of the last batch, so decoded values are not
// kept alive by the buffers.
func (b *decoded[T]) reset() {
	clear(b.vals)
	clear(b.errs)
}
