package amqp

import (
	"context"
	"fmt"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/swarm-go/swarm/kernel"
)

// pubChannel is the publishing channel and its basic.return listener.
type pubChannel struct {
	ch *amqp091.Channel
	// returns gets the messages the server could not route (mandatory
	// publishes to a queue that no longer exists). The client queues a
	// return before it handles the confirm that follows it, so draining
	// after the confirms sees every return they imply.
	returns chan amqp091.Return
}

// returnsBuffer bounds the returns queued between two drains. Beyond it the
// client drops returns after a timeout (it never blocks for good).
const returnsBuffer = 512

// Send publishes the batch persistent, with confirms, and waits for them.
func (d *driver) Send(ctx context.Context, batch []kernel.Envelope) []error {
	return d.SendAsync(ctx, batch)()
}

// The kernel keeps several batches in flight with drivers that send
// asynchronously.
var _ kernel.AsyncSender = (*driver)(nil)

// SendAsync publishes batch on the publishing channel and returns the wait
// for the server's confirmations. Batches started one after another are
// written in order on one channel, so they keep their order.
func (d *driver) SendAsync(ctx context.Context, batch []kernel.Envelope) func() []error {
	l, err := d.pubs.current(ctx)
	if err != nil {
		errs := all(len(batch), err)
		return func() []error { return errs }
	}
	msgs := make([]amqp091.Publishing, len(batch))
	var bad []error
	now := time.Now()
	for i, env := range batch {
		var headers amqp091.Table
		if len(env.Attrs) > 0 {
			headers = make(amqp091.Table, len(env.Attrs))
			for k, v := range env.Attrs {
				if strings.HasPrefix(k, reservedPrefix) {
					if bad == nil {
						bad = make([]error, len(batch))
					}
					bad[i] = kernel.Permanent(fmt.Errorf("amqp: attribute %q uses the reserved prefix %s", k, reservedPrefix))
				}
				headers[k] = v
			}
		}
		msgs[i] = amqp091.Publishing{
			Headers:      headers,
			DeliveryMode: amqp091.Persistent,
			MessageId:    env.ID,
			Type:         env.Category,
			Timestamp:    now,
			Body:         env.Payload,
		}
	}
	if bad != nil {
		// Rare: send the good ones one by one, keeping their order.
		errs := make([]error, len(batch))
		for i := range msgs {
			if bad[i] != nil {
				errs[i] = bad[i]
			} else if e := d.publish(ctx, l, d.queue, msgs[i:i+1]); e != nil {
				errs[i] = e[0]
			}
		}
		return func() []error { return errs }
	}
	return d.startPublish(ctx, l, d.queue, msgs)
}

// summary is the first of errs and how many there were, so that a failed
// batch makes one readable error rather than hundreds joined.
func summary(errs []error) error {
	var first error
	n := 0
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	if n <= 1 {
		return first
	}
	return fmt.Errorf("%d of %d messages failed, the first: %w", n, len(errs), first)
}

func all(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// publish publishes msgs to queue (by the default exchange, mandatory) on
// l's confirming channel and waits for every confirmation. It returns nil
// when all were confirmed and routed, or one error per message.
func (d *driver) publish(ctx context.Context, l *link, queue string, msgs []amqp091.Publishing) []error {
	return d.startPublish(ctx, l, queue, msgs)()
}

// startPublish writes msgs as publish does and returns the wait for their
// confirmations, so that the next batch can be written while the server
// confirms this one (publisher confirms are meant to be used so: the
// server confirms in the order of the writes, one channel keeps order).
func (d *driver) startPublish(ctx context.Context, l *link, queue string, msgs []amqp091.Publishing) (wait func() []error) {
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(msgs))
		}
		errs[i] = err
	}
	if err := l.waitUnblocked(ctx); err != nil {
		errs = all(len(msgs), fmt.Errorf("publish to %q: %w", queue, err))
		return func() []error { return errs }
	}
	pc := l.pub.Load()
	dcs := make([]*amqp091.DeferredConfirmation, len(msgs))
	for i := range msgs {
		dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, msgs[i])
		if err != nil {
			for j := i; j < len(msgs); j++ {
				fail(j, fmt.Errorf("publish to %q: %w", queue, err))
			}
			break
		}
		dcs[i] = dc
	}
	return func() []error {
		confirmed := false
		for i, dc := range dcs {
			if dc == nil {
				continue
			}
			ok, err := dc.WaitContext(ctx)
			switch {
			case err != nil:
				fail(i, fmt.Errorf("publish to %q: no confirmation: %w", queue, err))
			case !ok && pc.ch.IsClosed():
				fail(i, fmt.Errorf("publish to %q: channel closed before the server confirmed", queue))
			case !ok:
				fail(i, fmt.Errorf("publish to %q: the server refused the message (nack)", queue))
			default:
				confirmed = true
			}
		}
		if confirmed && d.unroutable(l, pc, queue, msgs, fail) {
			// The queue was deleted under us: declare it again, so the
			// kernel's retry finds it.
			if queue == d.queue {
				_, _ = d.declare(l.conn, d.queue, d.queueArgs(d.queue, d.dlq))
			}
			l.mu.Lock()
			delete(l.declared, queue)
			l.mu.Unlock()
		}
		return errs
	}
}

// unroutable fails the confirmed messages the server returned, and reports
// whether there was one.
func (d *driver) unroutable(l *link, pc *pubChannel, queue string, msgs []amqp091.Publishing, fail func(int, error)) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
drain:
	for {
		select {
		case r, ok := <-pc.returns:
			if !ok {
				break drain
			}
			if len(l.returned) >= 4*returnsBuffer { // ids nobody claimed
				clear(l.returned)
			}
			l.returned[r.MessageId] = true
		default:
			break drain
		}
	}
	if len(l.returned) == 0 {
		return false
	}
	hit := false
	for i := range msgs {
		if id := msgs[i].MessageId; id != "" && l.returned[id] {
			delete(l.returned, id)
			fail(i, fmt.Errorf("publish to %q: returned unroutable: the queue does not exist", queue))
			hit = true
		}
	}
	return hit
}
