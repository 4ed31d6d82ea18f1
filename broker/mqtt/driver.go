package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/swarm-go/swarm/kernel"
)

// User properties that carry the envelope beside the payload. Every other
// user property is an attribute.
const (
	propCategory = "swarm-category"
	propID       = "swarm-id"
	propAttempt  = "swarm-attempt"
	propReserved = "swarm-"
)

// receiveWait is how long Receive waits for a first message; the kernel
// calls again at once, so it only bounds how stale a stop can be.
const receiveWait = 250 * time.Millisecond

// sender is the emit side of the driver: QoS 1 publishes to the queue's
// topic, written in the order sent, their PUBACKs awaited later (see
// SendAsync).
type sender struct {
	s   *session
	cfg config
}

func (d *sender) Capabilities() kernel.Capabilities {
	return kernel.Capabilities{
		// One session delivers in publish order; Nack republishes at the
		// tail, as a queue's redelivery does.
		Ordered: true,
		// QoS 1 messages and persistent sessions survive a restart of a
		// server with persistence on (mosquitto: persistence true).
		Persistent: true,
		// Nack republishes with the attempt count raised.
		Redelivery: true,
		// MQTT has no delayed delivery: a Nack's delay is not honoured.
		Delay:          false,
		ConsumerGroups: true,
		LongPoll:       true,
		Receivers:      1,
		MaxBatch:       256,
		MaxPayload:     d.cfg.maxPayload,
		// No lease: the server holds an unacked message for the session
		// until the connection drops, however long that is.
		Lease: 0,
	}
}

// Send publishes batch in order and waits for the PUBACKs.
func (d *sender) Send(ctx context.Context, batch []kernel.Envelope) []error {
	return d.SendAsync(ctx, batch)()
}

// The kernel keeps several batches in flight with a driver that sends
// asynchronously.
var _ kernel.AsyncSender = (*sender)(nil)

// SendAsync writes the batch's PUBLISH packets in order, in one write
// where the server's Receive Maximum allows, without waiting for each
// PUBACK, and returns the wait for their outcomes. Batches started one after another
// are written in that order. After a message that could not be written,
// the rest of the batch is not written (and fails with it), so the kernel's
// retry keeps their order; a message written and then refused cannot be
// called back, so its retry comes after the later ones.
func (d *sender) SendAsync(ctx context.Context, batch []kernel.Envelope) func() []error {
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(batch))
		}
		errs[i] = err
	}
	msgs := make([]outgoing, 0, len(batch))
	at := make([]int, 0, len(batch)) // batch position of msgs[j]
	for i := range batch {
		env := &batch[i]
		props, err := envelopeProps(env.Category, env.ID, 1, env.Attrs)
		if err != nil {
			fail(i, err) // permanent: the rest goes on
			continue
		}
		msgs = append(msgs, outgoing{topic: d.s.topic, payload: env.Payload, props: props})
		at = append(at, i)
	}
	waits := d.s.sendAll(ctx, msgs)
	return func() []error {
		for j, wait := range waits {
			if err := wait(); err != nil {
				fail(at[j], err)
			}
		}
		return errs
	}
}

// Close releases the driver's session.
func (d *sender) Close() error {
	d.s.release()
	return nil
}

// envelopeProps builds the user properties of a message. Attributes named
// like the reserved ones are refused rather than silently overwritten.
func envelopeProps(category, id string, attempt int, attrs map[string]string) (paho.UserProperties, error) {
	props := make(paho.UserProperties, 0, 3+len(attrs))
	props = append(props, paho.UserProperty{Key: propCategory, Value: category})
	if id != "" {
		props = append(props, paho.UserProperty{Key: propID, Value: id})
	}
	if attempt > 1 {
		props = append(props, paho.UserProperty{Key: propAttempt, Value: strconv.Itoa(attempt)})
	}
	for k, v := range attrs {
		if strings.HasPrefix(k, propReserved) {
			return nil, kernel.Permanent(fmt.Errorf("mqtt: attribute %q uses the reserved prefix %q", k, propReserved))
		}
		props = append(props, paho.UserProperty{Key: k, Value: v})
	}
	return props, nil
}

// driver is the emit and listen side: it receives from the shared session
// buffer and settles by acking (manual acknowledgement), republishing
// (Nack) or publishing to the dead-letter topic (DeadLetter).
type driver struct {
	sender
	dlqTopic string
	k        atomic.Pointer[kernel.Kernel] // set once the kernel runs, for reports

	dlqMu sync.Mutex
	dlq   *session // the dead-letter topic's session, opened on first use
}

func (d *driver) Receive(ctx context.Context, max int) ([]kernel.Envelope, error) {
	timer := time.NewTimer(receiveWait)
	defer timer.Stop()
	var envs []kernel.Envelope
	for len(envs) < max {
		var dv *delivery
		if len(envs) == 0 {
			select {
			case dv = <-d.s.buf:
			case <-timer.C:
				return nil, nil
			case <-ctx.Done():
				return nil, nil
			}
		} else {
			select {
			case dv = <-d.s.buf:
			default:
				return envs, nil
			}
		}
		if dv.stale() {
			continue // its connection is gone: the server sends it again
		}
		envs = append(envs, dv.envelope())
	}
	return envs, nil
}

// Ack writes the PUBACKs the acks make due (see subState.ack), in one
// write.
func (d *driver) Ack(_ context.Context, handles []any) error {
	dvs := make([]*delivery, len(handles))
	for i, h := range handles {
		dvs[i] = h.(*delivery)
	}
	if len(dvs) == 0 {
		return nil
	}
	if err := d.s.subs.ack(dvs...); err != nil {
		return fmt.Errorf("mqtt: ack on %s: %w (the server sends the messages again)", d.s.where(), err)
	}
	return nil
}

// Nack republishes each message with its attempt raised, then acks the
// original: MQTT has no negative ack. When the republish fails the message
// is handed to this process's receivers again instead (it stays unacked on
// the server, so it is not lost either way). The delay is not honoured.
// The republishes are written together, their PUBACKs awaited after.
func (d *driver) Nack(ctx context.Context, handles []any, _ time.Duration) error {
	var errs []error
	waits := make([]func() error, len(handles))
	for i, h := range handles {
		if dv := h.(*delivery); !dv.stale() {
			waits[i] = dv.requeue(ctx, dv.attempt()+1)
		}
	}
	for i, wait := range waits {
		if wait == nil {
			continue
		}
		if err := wait(); err != nil {
			dv := handles[i].(*delivery)
			dv.bump++
			select {
			case d.s.buf <- dv:
			default:
				errs = append(errs, fmt.Errorf("%w; the server redelivers it after the next reconnect", err))
			}
		}
	}
	return errors.Join(errs...)
}

// DeadLetter publishes each message, with its category, id, attributes and
// attempt, to the dead-letter topic, then acks the original. The first call
// makes this process's session on the dead-letter topic a member of its
// shared subscription, so the dead letters are kept until read.
func (d *driver) DeadLetter(ctx context.Context, handles []any) error {
	if err := d.openDLQ(); err != nil {
		return err
	}
	waits := make([]func() error, 0, len(handles))
	for _, h := range handles {
		if dv := h.(*delivery); !dv.stale() {
			waits = append(waits, dv.forward(ctx, d.dlqTopic))
		}
	}
	var errs []error
	for _, wait := range waits {
		if err := wait(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *driver) openDLQ() error {
	d.dlqMu.Lock()
	defer d.dlqMu.Unlock()
	if d.dlq != nil {
		return nil
	}
	s, err := acquire(d.cfg, d.dlqTopic, true)
	if err != nil {
		return fmt.Errorf("mqtt: dead-letter topic %s: %w", d.dlqTopic, err)
	}
	d.dlq = s
	return nil
}

// Close releases the sessions of the queue and of its dead letters.
func (d *driver) Close() error {
	d.s.unwatch(d)
	d.dlqMu.Lock()
	if d.dlq != nil {
		d.dlq.release()
		d.dlq = nil
	}
	d.dlqMu.Unlock()
	return d.sender.Close()
}

// delivery is one received message and the client that must ack it.
type delivery struct {
	s    *session
	cli  *paho.Client
	pub  *paho.Publish
	bump int // local redeliveries after a failed republish

	// Guarded by the subState's lock; gen is set before the delivery is
	// buffered and read after.
	gen   uint64 // the connection it came on (0: none, it came after the drop)
	acked bool
}

// stale reports whether the connection that received the message is gone;
// the server then sends it again on the next one, and acking it through the
// old client would be meaningless.
func (dv *delivery) stale() bool {
	if dv.pub.QoS > 0 && dv.gen == 0 {
		return true
	}
	select {
	case <-dv.cli.Done():
		return true
	default:
		return false
	}
}

func (dv *delivery) props() paho.UserProperties {
	if dv.pub.Properties == nil {
		return nil
	}
	return dv.pub.Properties.User
}

// attempt is the delivery count: the attempt property (1 when absent), one
// more when the server marks a resend (DUP), plus local redeliveries.
func (dv *delivery) attempt() int {
	n := 1
	if v := dv.props().Get(propAttempt); v != "" {
		if a, err := strconv.Atoi(v); err == nil && a > 0 {
			n = a
		}
	}
	if dv.pub.Duplicate() {
		n++
	}
	return n + dv.bump
}

func (dv *delivery) envelope() kernel.Envelope {
	env := kernel.Envelope{Payload: dv.pub.Payload, Attempt: dv.attempt(), Handle: dv}
	for _, p := range dv.props() {
		switch {
		case p.Key == propCategory:
			env.Category = p.Value
		case p.Key == propID:
			env.ID = p.Value
		case strings.HasPrefix(p.Key, propReserved):
		default:
			if env.Attrs == nil {
				env.Attrs = map[string]string{}
			}
			env.Attrs[p.Key] = p.Value
		}
	}
	if env.ID == "" {
		// Published by a non-swarm client: name it by topic and packet.
		env.ID = dv.pub.Topic + "#" + strconv.Itoa(int(dv.pub.PacketID))
	}
	return env
}

func (dv *delivery) ack() error {
	if err := dv.s.subs.ack(dv); err != nil {
		return fmt.Errorf("mqtt: ack on %s: %w (the server sends the message again)", dv.s.where(), err)
	}
	return nil
}

// requeue starts republishing the message to its queue with attempt; the
// wait returned acks it once the server took the copy.
func (dv *delivery) requeue(ctx context.Context, attempt int) (wait func() error) {
	return dv.republish(ctx, dv.s.topic, attempt)
}

// forward starts publishing the message to topic unchanged; the wait
// returned acks it once the server took the copy.
func (dv *delivery) forward(ctx context.Context, topic string) (wait func() error) {
	return dv.republish(ctx, topic, dv.attempt())
}

func (dv *delivery) republish(ctx context.Context, topic string, attempt int) (wait func() error) {
	props := make(paho.UserProperties, 0, len(dv.props())+1)
	for _, p := range dv.props() {
		if p.Key != propAttempt {
			props = append(props, p)
		}
	}
	if attempt > 1 {
		props = append(props, paho.UserProperty{Key: propAttempt, Value: strconv.Itoa(attempt)})
	}
	sent := dv.s.sendAll(ctx, []outgoing{{topic: topic, payload: dv.pub.Payload, props: props}})[0]
	return func() error {
		if err := sent(); err != nil {
			return err
		}
		return dv.ack()
	}
}
