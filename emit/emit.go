// Package emit makes the channels an application sends messages on.
//
//	enq, dlq := emit.Typed[Order](q)
//	enq <- Order{ID: "42"}
//
// Values sent on one channel reach the broker in that order, in batches. A
// value that cannot be sent after the kernel's retries comes back on the
// dead-letter channel dlq, and the reason goes to the error side channel
// (swarm.WithStdErr). Read dlq, or wrap the pair in swarm.LogDeadLetters.
//
// A registration that cannot work (a second type claiming a category on the
// same broker, a broker that cannot emit) panics, as net/http does for
// conflicting handlers: it is a programming error found at start-up.
package emit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/internal/unencoded"
	"github.com/swarm-go/swarm/kernel"
)

// Typed returns the channel to emit values of T on, JSON-encoded under the
// category of T (its type name, or swarm.Category), and its dead-letter
// channel. Close of the broker flushes enq and closes dlq.
func Typed[T any](q swarm.Broker, opts ...swarm.ChanOption) (chan<- T, <-chan T) {
	cfg := swarm.NewChanConfig(opts)
	return channel(q, swarm.NewCodecJSON[T](cfg.Category), swarm.TypeKey[T](), nil, true)
}

// Bytes returns the channel to emit octet streams on, under the category the
// codec names, and its dead-letter channel. A slice sent on enq belongs to
// the library from then on, as over any Go channel: do not modify it.
func Bytes(q swarm.Broker, codec swarm.Codec[[]byte]) (chan<- []byte, <-chan []byte) {
	return channel(q, codec, "[]byte:"+codec.Category(), nil, false)
}

// Event returns the channel to emit events with metadata M and data T on,
// under the category of T, and its dead-letter channel. When M holds a
// swarm.Meta, its blank id, type, time and spec version are filled on a copy
// (the value sent is not modified).
func Event[M, T any](q swarm.Broker, opts ...swarm.ChanOption) (chan<- swarm.Event[M, T], <-chan swarm.Event[M, T]) {
	cfg := swarm.NewChanConfig(opts)
	codec := swarm.NewCodecEvent[M, T](cfg.Category)
	return channel(q, codec, "event:"+swarm.TypeKey[T](), stampEvent[M, T](codec.Category()), true)
}

// stampEvent fills the metadata of an event on a copy, with the message id.
func stampEvent[M, T any](category string) func(swarm.Event[M, T], string) swarm.Event[M, T] {
	return func(e swarm.Event[M, T], id string) swarm.Event[M, T] {
		meta := new(M)
		if e.Meta != nil {
			*meta = *e.Meta
		}
		if f, ok := any(meta).(swarm.EventMetaFiller); ok {
			swarm.FillMeta(f.EventMeta(), id, category, time.Now())
		}
		e.Meta = meta
		return e
	}
}

// encoder turns values into envelopes of one category.
type encoder[T any] struct {
	e     *kernel.Emitter
	codec swarm.Codec[T]
	stamp func(T, string) T
	// keep: the driver carries values unencoded (kernel.Capabilities.Values)
	// and the codec is a built-in one, whose payload a listener of the same
	// type would only decode back. Octet codecs are never kept: their
	// encoding costs nothing, and the listener compares its codec with the
	// emitter's (unencoded.Decode), which only built-in codecs are sure to
	// allow (an application's codec type need not be comparable).
	keep bool
}

// newEncoder returns the encoder of e's category; builtin says codec is
// the built-in codec of T, which Decode recognises on the listening side.
func newEncoder[T any](e *kernel.Emitter, codec swarm.Codec[T], stamp func(T, string) T, builtin bool) *encoder[T] {
	return &encoder[T]{e: e, codec: codec, stamp: stamp, keep: builtin && e.Kernel().Capabilities().Values}
}

// envelope encodes v. Its id is left to the kernel's Send, which gives a
// whole batch its ids at once, except for events, whose metadata holds it.
func (c *encoder[T]) envelope(v T) (kernel.Envelope, error) {
	var id string
	if c.stamp != nil {
		id = c.e.Kernel().NewID()
		v = c.stamp(v, id)
	}
	if c.keep {
		return kernel.Envelope{Category: c.e.Category(), ID: id, Value: &unencoded.Value[T]{Object: v, Codec: c.codec}}, nil
	}
	b, err := c.codec.Encode(v)
	if err != nil {
		return kernel.Envelope{}, fmt.Errorf("%w: %w", swarm.ErrEncode, err)
	}
	return kernel.Envelope{Category: c.e.Category(), ID: id, Payload: b}, nil
}

func register(q swarm.Broker, category, typ string, loop bool) (*kernel.Emitter, error) {
	e, err := q.Kernel().Emitter(category, typ, loop)
	if err != nil && !errors.Is(err, kernel.ErrClosed) {
		panic(fmt.Sprintf("emit: %v", err))
	}
	return e, err
}

// Writer emits values of T synchronously. It is safe for concurrent use.
type Writer[T any] struct {
	enc    *encoder[T]
	closed bool
}

// NewTyped returns a synchronous emitter of T, under the same category as
// Typed[T] with the same options.
func NewTyped[T any](q swarm.Broker, opts ...swarm.ChanOption) *Writer[T] {
	cfg := swarm.NewChanConfig(opts)
	codec := swarm.NewCodecJSON[T](cfg.Category)
	e, err := register(q, codec.Category(), swarm.TypeKey[T](), false)
	if err != nil {
		return &Writer[T]{closed: true}
	}
	return &Writer[T]{enc: newEncoder(e, codec, nil, true)}
}

// Enq sends v and returns once the broker accepted it, or with the error
// that stopped it: the last send error after the kernel's retries,
// ctx.Err() when ctx ended first, swarm.ErrClosed after Close, or
// swarm.ErrEncode. The value is never left half-sent in a buffer.
func (w *Writer[T]) Enq(ctx context.Context, v T) error {
	if w.closed {
		return swarm.ErrClosed
	}
	select {
	case <-w.enc.e.Kernel().Closing():
		return swarm.ErrClosed
	default:
	}
	env, err := w.enc.envelope(v)
	if err != nil {
		return err
	}
	if errs := w.enc.e.Send(ctx, []kernel.Envelope{env}); errs != nil {
		return errs[0]
	}
	return nil
}
