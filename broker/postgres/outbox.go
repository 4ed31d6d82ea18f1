package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// Outbox emits values of T inside the application's own transaction (the
// transactional outbox pattern): the message is written to the broker's
// queue table by the caller's tx and becomes visible to listeners only if tx
// commits; a rollback leaves no message. Values travel exactly as those of
// emit.Typed[T] on the same broker (category and JSON codec), so
// listen.Typed[T] receives both.
//
// An Outbox is safe for concurrent use. It sends nothing by itself: there is
// no retry and no dead-letter channel, the caller's transaction decides.
type Outbox[T any] struct {
	d     *driver
	k     *kernel.Kernel
	codec swarm.Codec[T]
}

// NewOutbox returns the outbox of T on q's queue, under the category of T
// (its type name, or the swarm.Category option). It fails with
// swarm.ErrCategoryConflict when another type holds the category on q, or
// swarm.ErrClosed when q is closed.
func NewOutbox[T any](q *Broker, opts ...swarm.ChanOption) (*Outbox[T], error) {
	cfg := swarm.NewChanConfig(opts)
	codec := swarm.NewCodecJSON[T](cfg.Category)
	// Claiming the category as an emitter keeps the rule of emit.Typed: one
	// Go type per category on a broker.
	if _, err := q.k.Emitter(codec.Category(), swarm.TypeKey[T](), false); err != nil {
		return nil, fmt.Errorf("postgres: outbox of %s: %w", swarm.TypeKey[T](), err)
	}
	return &Outbox[T]{d: q.d, k: q.k, codec: codec}, nil
}

// Category is the category the outbox's messages travel under.
func (o *Outbox[T]) Category() string { return o.codec.Category() }

// Enq writes vs, in order, to the queue within tx and queues the NOTIFY that
// wakes listeners when tx commits. It returns the error that stopped it:
// swarm.ErrEncode, swarm.ErrTooLarge, swarm.ErrClosed, or the database
// error, after which the caller should roll tx back. Nothing is visible
// before tx commits.
func (o *Outbox[T]) Enq(ctx context.Context, tx pgx.Tx, vs ...T) error {
	if len(vs) == 0 {
		return nil
	}
	select {
	case <-o.k.Closing():
		return swarm.ErrClosed
	default:
	}
	cats := make([]string, len(vs))
	ids := make([]string, len(vs))
	attrs := make([]string, len(vs))
	payloads := make([][]byte, len(vs))
	for i, v := range vs {
		b, err := o.codec.Encode(v)
		if err != nil {
			return fmt.Errorf("%w: postgres outbox %s: %w", swarm.ErrEncode, o.codec.Category(), err)
		}
		if len(b) > o.d.maxPayload {
			return fmt.Errorf("%w: postgres outbox %s: %d bytes, the limit is %d",
				swarm.ErrTooLarge, o.codec.Category(), len(b), o.d.maxPayload)
		}
		cats[i], ids[i], payloads[i] = o.codec.Category(), o.k.NewID(), b
	}
	ctx, cancel := context.WithTimeout(ctx, o.d.timeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(o.d.insert, o.d.queue, cats, ids, attrs, payloads)
	b.Queue(notify, o.d.channel, o.d.queue)
	br := tx.SendBatch(ctx, b)
	for range b.Len() {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("postgres outbox: write %d messages to queue %q: %w", len(vs), o.d.queue, err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("postgres outbox: write %d messages to queue %q: %w", len(vs), o.d.queue, err)
	}
	return nil
}

// Enq writes v to q's queue within tx under the category of T, like
// emit.Typed[T]: visible to listeners only if tx commits. It is
// NewOutbox[T](q) followed by Enq; keep an Outbox to emit often.
func Enq[T any](ctx context.Context, tx pgx.Tx, q *Broker, v T, opts ...swarm.ChanOption) error {
	o, err := NewOutbox[T](q, opts...)
	if err != nil {
		return err
	}
	return o.Enq(ctx, tx, v)
}
