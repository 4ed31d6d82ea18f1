package nats

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Ack acks each delivery and hands the acks to the confirmer, which
// flushes (one round trip confirms the server has them) off the kernel's
// path. When the connection drops before the server confirmed, the acks may
// have died with it (a server restart loses those it had not processed), so
// they are sent again once the client has reconnected: an ack is
// idempotent, and each one lost is a duplicate delivery after the AckWait.
func (d *driver) Ack(ctx context.Context, handles []any) error {
	msgs, failed, err := d.apply("ack", handles, func(m jetstream.Msg) error { return m.Ack() })
	if err == nil {
		return d.ackDone(ctx, msgs)
	}
	if d.nc.IsClosed() || ctx.Err() != nil || failed == 0 {
		return err
	}
	if d.reack(ctx, msgs) == nil {
		return nil
	}
	return err
}

// ackBody is the JetStream ack protocol, for acks sent again by reack
// (Msg.Ack refuses a message it has acked once).
var ackBody = []byte("+ACK")

// reack waits for the connection (up to the request timeout) and publishes
// the acks of msgs again, then flushes.
func (d *driver) reack(ctx context.Context, msgs []jetstream.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, d.apiTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !d.nc.IsConnected() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	for _, m := range msgs {
		if err := d.nc.Publish(m.Reply(), ackBody); err != nil {
			return err
		}
	}
	return d.nc.FlushWithContext(ctx)
}

// Nack naks each delivery: redelivered at once, or after delay (NakWithDelay).
func (d *driver) Nack(ctx context.Context, handles []any, delay time.Duration) error {
	if delay > 0 {
		return d.settle(ctx, "nak", handles, func(m jetstream.Msg) error { return m.NakWithDelay(delay) })
	}
	return d.settle(ctx, "nak", handles, func(m jetstream.Msg) error { return m.Nak() })
}

// Extend marks each delivery in progress, which restarts its AckWait (the
// lease) on the server.
func (d *driver) Extend(ctx context.Context, handles []any, _ time.Duration) error {
	return d.settle(ctx, "extend", handles, func(m jetstream.Msg) error { return m.InProgress() })
}

// settle applies f to each delivery, then flushes once for the batch.
func (d *driver) settle(ctx context.Context, op string, handles []any, f func(jetstream.Msg) error) error {
	_, _, err := d.apply(op, handles, f)
	if err != nil {
		return err
	}
	if err := d.flush(ctx); err != nil {
		// None is known to have reached the server.
		return fmt.Errorf("nats: %s %d of %d deliveries on %s: %w", op, len(handles), len(handles), d.where, err)
	}
	return nil
}

// apply applies f to each delivery and returns them, with how many f
// failed on and the first failure (naming op).
func (d *driver) apply(op string, handles []any, f func(jetstream.Msg) error) ([]jetstream.Msg, int, error) {
	msgs := make([]jetstream.Msg, 0, len(handles))
	var first error
	failed := 0
	for _, h := range handles {
		m, ok := h.(jetstream.Msg)
		if !ok {
			return nil, 0, fmt.Errorf("nats: %s on %s: handle %T is not a JetStream message", op, d.where, h)
		}
		msgs = append(msgs, m)
		// ErrMsgAlreadyAckd: settled before (a release racing an ack);
		// nothing left to do.
		if err := f(m); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if first != nil {
		return msgs, failed, fmt.Errorf("nats: %s %d of %d deliveries on %s: %w", op, failed, len(handles), d.where, first)
	}
	return msgs, 0, nil
}

// flush waits until the server has read everything published so far, at
// most the request timeout: while the server is away, Close must not wait
// for it longer than that (what is not flushed is sent on reconnect, or the
// deliveries come back after their AckWait).
func (d *driver) flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.apiTimeout)
	defer cancel()
	return d.nc.FlushWithContext(ctx)
}

// DeadLetter publishes each delivery, headers and payload unchanged, to the
// dead-letter queue's stream, then terminates it on its own stream. A
// delivery whose dead letter was not stored stays unsettled: it comes back
// after its AckWait and the kernel dead-letters it again; the message id,
// sent as Nats-Msg-Id whatever WithDeduplication says (dead letters are
// few), keeps the dead-letter stream from storing it twice.
func (d *driver) DeadLetter(ctx context.Context, handles []any) error {
	if err := d.ensureDLQ(ctx); err != nil {
		return err
	}
	msgs := make([]jetstream.Msg, 0, len(handles))
	futures := make([]jetstream.PubAckFuture, 0, len(handles))
	var first error
	for _, h := range handles {
		m, ok := h.(jetstream.Msg)
		if !ok {
			return fmt.Errorf("nats: dead-letter on %s: handle %T is not a JetStream message", d.where, h)
		}
		f, err := d.js.PublishMsgAsync(d.deadLetterMsg(m))
		if err != nil {
			first = cmp(first, err)
			continue
		}
		msgs, futures = append(msgs, m), append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
			if err := msgs[i].Term(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
				first = cmp(first, err)
			}
		case err := <-f.Err():
			first = cmp(first, err)
		case <-ctx.Done():
			first = cmp(first, ctx.Err())
		}
	}
	if first == nil {
		first = d.flush(ctx)
	}
	if first != nil {
		return fmt.Errorf("nats: dead-letter from %s to %s: %w", d.where, d.dlqSubject, first)
	}
	return nil
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// deadLetterMsg is the dead letter of m: its headers (less the
// Nats-Expected ones) and payload, with the category and id as headers,
// since the dead-letter queue's subject is not m's: the category from the
// subject where it travels there, the id stream:sequence where m carries
// none; the id also as Nats-Msg-Id.
func (d *driver) deadLetterMsg(m jetstream.Msg) *natsgo.Msg {
	h := make(natsgo.Header, len(m.Headers())+4)
	for k, v := range m.Headers() {
		if strings.HasPrefix(k, "Nats-Expected") {
			continue
		}
		h[k] = v
	}
	if h.Get(HeaderCategory) == "" {
		if c, ok := categoryOfSubject(m.Subject(), d.wire.catPrefix); ok {
			h.Set(HeaderCategory, url.QueryEscape(c))
		}
	}
	var from string // stream:sequence
	if meta, err := m.Metadata(); err == nil {
		from = meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
		h.Set(HeaderDeadLetterFrom, from)
	}
	id := h.Get(HeaderID)
	if id == "" {
		id = h.Get(jetstream.MsgIDHeader)
	}
	if id == "" && from != "" {
		id = url.QueryEscape(from)
	}
	if id != "" {
		if h.Get(HeaderID) == "" {
			h.Set(HeaderID, id)
		}
		if h.Get(jetstream.MsgIDHeader) == "" {
			h.Set(jetstream.MsgIDHeader, id)
		}
	}
	return &natsgo.Msg{Subject: d.dlqSubject, Header: h, Data: m.Data()}
}

// ensureDLQ creates the dead-letter stream on first use.
func (d *driver) ensureDLQ(ctx context.Context) error {
	d.dlqMu.Lock()
	defer d.dlqMu.Unlock()
	if d.dlqReady {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.apiTimeout)
	defer cancel()
	if _, _, err := ensureStream(ctx, d.js, d.dlqStream, d.dlqSubject); err != nil {
		return err
	}
	d.dlqReady = true
	return nil
}
