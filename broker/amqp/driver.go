package amqp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/swarm-go/swarm/kernel"
)

// Headers the broker reserves for itself.
const (
	reservedPrefix = "x-swarm-"
	// attemptHeader counts the deliveries a republished message already had.
	attemptHeader = "x-swarm-attempts"
)

var errClosed = fmt.Errorf("amqp: %w", kernel.ErrClosed)

var (
	_ kernel.Sender       = (*driver)(nil)
	_ kernel.Receiver     = (*driver)(nil)
	_ kernel.DeadLetterer = (*driver)(nil)
	_ io.Closer           = (*driver)(nil)
)

// driver is the kernel's port onto one queue.
type driver struct {
	cfg     config
	targets []target
	secrets []string
	queue   string
	dlq     string
	logger  *slog.Logger

	pubs, subs *linker // the publishing and the consuming connection

	consMu sync.Mutex // serializes consumer setup; guards cons and open
	cons   *session
	// open holds the sessions not yet retired, whose pending acks Close
	// writes (one stopped by stopConsuming still settles).
	open map[*session]struct{}

	life      context.Context // cancelled by Close: ends dials in progress
	end       context.CancelFunc
	done      <-chan struct{} // life.Done()
	closeOnce sync.Once
}

func newDriver(c config, targets []target, queue string) *driver {
	d := &driver{
		cfg:     c,
		targets: targets,
		queue:   queue,
		dlq:     c.deadLetter,
		logger:  slog.Default(),
		open:    map[*session]struct{}{},
	}
	d.pubs, d.subs = newLinker(d, "publish"), newLinker(d, "consume")
	d.life, d.end = context.WithCancel(context.Background())
	d.done = d.life.Done()
	for _, t := range targets {
		if t.uri.Password != "" {
			d.secrets = append(d.secrets, t.uri.Password)
		}
		d.secrets = append(d.secrets, secretsOf(t.url, "")...)
	}
	if c.pass != "" {
		d.secrets = append(d.secrets, c.pass)
	}
	return d
}

// start connects once, so that New fails on a wrong address or password.
func (d *driver) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.dialTimeout*time.Duration(len(d.targets)+1))
	defer cancel()
	_, err := d.pubs.current(ctx)
	return err
}

func (d *driver) isClosed() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *driver) Capabilities() kernel.Capabilities {
	return kernel.Capabilities{
		Ordered:        true,
		Persistent:     true,
		Redelivery:     true,
		Delay:          d.cfg.delayQueues,
		ConsumerGroups: true,
		LongPoll:       true,
		Receivers:      1,
		// 16 batches in flight (emit's window) of 64 keep 1,024 publishes
		// awaiting confirms, as many as a consumer prefetches; larger
		// batches let a publisher build a backlog that costs the server
		// more per message (see README).
		MaxBatch:      64,
		MaxBatchBytes: 8 << 20,
		MaxPayload:    d.cfg.maxPayload,
	}
}

// Receive returns up to max deliveries, waiting up to the receive wait for
// the first one.
func (d *driver) Receive(ctx context.Context, max int) ([]kernel.Envelope, error) {
	s, err := d.consumer(ctx)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(d.cfg.receiveWait)
	defer t.Stop()
	var first amqp091.Delivery
	var ok bool
	select {
	case first, ok = <-s.deliveries:
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		// The kernel stops receiving only when it closes: stop the server
		// pushing (its release republishes to this queue) while the
		// deliveries in hand are still settled on this channel.
		d.stopConsuming(s)
		return nil, nil
	case <-d.done:
		return nil, nil
	}
	if !ok {
		return nil, d.lost(s)
	}
	ds := []amqp091.Delivery{first}
drain:
	for len(ds) < max {
		select {
		case dv, ok := <-s.deliveries:
			if !ok {
				break drain // the next Receive sees the loss
			}
			ds = append(ds, dv)
		default:
			break drain
		}
	}
	return s.envelopes(ds), nil
}

// consumer returns the live consumer session, starting one (and
// reconnecting) when there is none. Consuming starts on the first Receive,
// so a broker that only emits holds no messages.
func (d *driver) consumer(ctx context.Context) (*session, error) {
	d.consMu.Lock()
	defer d.consMu.Unlock()
	if d.cons != nil && !d.cons.isDead() {
		return d.cons, nil
	}
	if d.cons != nil { // died unseen by Receive: its tags died with it
		d.cons.kill()
		delete(d.open, d.cons)
		d.cons = nil
	}
	l, err := d.subs.current(ctx)
	if err != nil {
		return nil, err
	}
	s, err := d.consume(l)
	var ae *amqp091.Error
	if errors.As(err, &ae) && ae.Code == amqp091.NotFound {
		// The queue was deleted under us: declare it again.
		if _, err = d.declare(l.conn, d.queue, d.queueArgs(d.queue, d.dlq)); err == nil {
			s, err = d.consume(l)
		}
	}
	if err != nil {
		return nil, err
	}
	d.cons = s
	d.open[s] = struct{}{}
	return s, nil
}

// stopConsuming cancels s's consumer; its channel stays open for settling.
// No wait for the server's answer: a hung connection must not hold Close.
func (d *driver) stopConsuming(s *session) {
	d.consMu.Lock()
	if d.cons == s {
		d.cons = nil
	}
	d.consMu.Unlock()
	_ = s.ch.Cancel(s.tag, true)
}

// lost retires a session whose delivery channel closed and says why.
func (d *driver) lost(s *session) error {
	s.kill()
	d.consMu.Lock()
	if d.cons == s {
		d.cons = nil
	}
	delete(d.open, s)
	d.consMu.Unlock()
	if d.isClosed() {
		return nil
	}
	why := "consumer cancelled by the server"
	select {
	case e := <-s.closed:
		if e != nil {
			why = e.Error()
		}
	default:
	}
	return fmt.Errorf("amqp: consumer of %q lost (%s): reconnecting; its unacked deliveries come back from the server", d.queue, why)
}

// Ack acks deliveries; those of a dead channel are dropped (the server
// redelivers them).
func (d *driver) Ack(_ context.Context, handles []any) error {
	var errs []error
	for s, hs := range bySession(handles) {
		errs = append(errs, s.ack(hs))
	}
	return errors.Join(errs...)
}

// Nack republishes each delivery with its attempt count, to the delay queue
// of delay (or the queue itself when delay is 0 or delay queues are off),
// and acks the original once the copy is confirmed. A delivery whose copy
// was not confirmed is requeued by the server instead (basic.nack).
func (d *driver) Nack(ctx context.Context, handles []any, delay time.Duration) error {
	return d.moveTo(ctx, handles, func(l *link) (string, error) {
		if delay <= 0 || !d.cfg.delayQueues {
			return d.queue, nil
		}
		return d.delayQueue(l, delay)
	}, false)
}

// DeadLetter rejects deliveries without requeue, so the queue's
// x-dead-letter arguments route them to the dead-letter queue, or, when the
// queue was declared by someone else with other arguments, republishes them
// there and acks them.
func (d *driver) DeadLetter(ctx context.Context, handles []any) error {
	return d.moveTo(ctx, handles, func(l *link) (string, error) {
		return d.dlq, d.ensure(l, d.dlq, d.queueArgs(d.dlq, d.dlq+".dlq"))
	}, true)
}

// moveTimeout bounds the wait for the confirms of republished copies; past
// it the originals are requeued instead (a late copy is then a duplicate).
const moveTimeout = 5 * time.Second

// moveTo settles handles by moving their messages to the queue dest names.
// For dead letters on a queue with our arguments, the server moves them
// (basic.reject); otherwise they are republished and acked.
func (d *driver) moveTo(ctx context.Context, handles []any, dest func(*link) (string, error), deadLetter bool) error {
	var errs []error
	for s, hs := range bySession(handles) {
		live := s.live(hs)
		if len(live) == 0 {
			continue
		}
		l, err := d.pubs.current(ctx)
		var queue string
		if err == nil {
			queue, err = dest(l)
		}
		if err != nil {
			// Give them back rather than hold them: the server redelivers.
			errs = append(errs, err, s.requeue(live))
			continue
		}
		if deadLetter && s.nativeDLX {
			errs = append(errs, s.reject(live))
			continue
		}
		if l.isBlocked() {
			// A resource alarm: republishing would wait for it and add to
			// it. Requeue on the consuming connection, which is not blocked
			// (the attempt then counts by the redelivered flag).
			errs = append(errs, s.requeue(live))
			continue
		}
		msgs := make([]amqp091.Publishing, len(live))
		for i, h := range live {
			msgs[i] = h.republish()
		}
		// Bounded: a copy stuck behind a resource alarm that began after the
		// last publish must not hold the originals (nor Close) for long.
		pctx, cancel := context.WithTimeout(ctx, moveTimeout)
		perr := d.publish(pctx, l, queue, msgs)
		cancel()
		if perr == nil {
			errs = append(errs, s.ack(live))
			continue
		}
		var acked, back []*handle
		for i, h := range live {
			if perr[i] == nil {
				acked = append(acked, h)
			} else {
				back = append(back, h)
			}
		}
		errs = append(errs, summary(perr), s.ack(acked), s.requeue(back))
	}
	return errors.Join(errs...)
}

// Close closes the connection: the server requeues whatever this broker
// still held. The kernel has released its deliveries before.
func (d *driver) Close() error {
	d.closeOnce.Do(func() {
		d.end() // first: a consumer setup dialing under consMu gives up
		// The acks the kernel made are written before the connection goes,
		// or the server would redeliver those messages.
		d.consMu.Lock()
		for s := range d.open {
			if err := s.flush(); err != nil {
				d.logger.Warn("swarm amqp: acks not written at close", "queue", d.queue, "error", err)
			}
			s.flushTimer.Stop()
		}
		d.consMu.Unlock()
		d.subs.close()
		d.pubs.close()
	})
	return nil
}
