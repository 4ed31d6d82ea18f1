package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"
	"github.com/eclipse/paho.golang/paho/store/memory"
)

// pubState is the session state of the publishing connection: paho's own
// (packet ids, the server's Receive Maximum as the send quota, PUBACKs
// routed to their publish), plus the connection and a signal of its drop.
// swarm writes its PUBLISH packets itself through it (see send), so that a
// caller writes many in order and waits for their PUBACKs later: paho's
// Publish waits for each PUBACK before returning, and its asynchronous mode
// reports no outcome.
type pubState struct {
	*state.State

	mu   sync.Mutex
	conn io.Writer     // the connection up, nil while down
	lost chan struct{} // closed when conn drops
}

func newPubState() *pubState {
	lost := make(chan struct{})
	close(lost)
	return &pubState{State: state.New(noStore{}, memory.New()), lost: lost}
}

// noStore is the store of the publishing connection's outgoing packets,
// which paho keeps to resend them on a reconnect that finds the session:
// that connection keeps none (session expiry 0), so paho would encode every
// message a second time for nothing.
type noStore struct{}

func (noStore) Put(uint16, byte, io.WriterTo) error { return nil }
func (noStore) Get(uint16) (io.ReadCloser, error) {
	return nil, errors.New("mqtt: the publishing connection stores no packets")
}
func (noStore) Delete(uint16) error     { return nil }
func (noStore) Quarantine(uint16) error { return nil }
func (noStore) List() ([]uint16, error) { return nil, nil }
func (noStore) Reset() error            { return nil }

// ConAckReceived makes conn the one publishes are written to, once paho's
// state knows it.
func (p *pubState) ConAckReceived(conn io.Writer, cp *packets.Connect, ca *packets.Connack) error {
	if err := p.State.ConAckReceived(conn, cp, ca); err != nil {
		return err
	}
	p.mu.Lock()
	p.conn, p.lost = conn, make(chan struct{})
	p.mu.Unlock()
	return nil
}

// ConnectionLost fails the publishes waiting on the connection before
// paho's state forgets them: the connection keeps no session, so their
// PUBACKs never come and paho never tells.
func (p *pubState) ConnectionLost(dp *packets.Disconnect) error {
	p.mu.Lock()
	if p.conn != nil {
		p.conn = nil
		close(p.lost)
	}
	p.mu.Unlock()
	return p.State.ConnectionLost(dp)
}

func (p *pubState) current() (io.Writer, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn, p.lost
}

// write writes encoded packets to conn in one write, unless conn dropped
// (closing lost): their packet ids may then belong to the next connection.
func (p *pubState) write(conn io.Writer, lost <-chan struct{}, b []byte) error {
	select {
	case <-lost:
		return errDropped
	default:
	}
	if l, ok := conn.(sync.Locker); ok {
		// A connection that needs it (see packets.NewThreadSafeConn)
		// serialises paho's writes by its lock.
		l.Lock()
		defer l.Unlock()
	}
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("%w: %w", errDropped, err)
	}
	return nil
}

// errDropped is the outcome of a publish whose connection dropped before
// the server acknowledged it.
var errDropped = errors.New("the connection dropped before the server acknowledged it")

// outgoing is one message to publish.
type outgoing struct {
	topic   string
	payload []byte
	props   paho.UserProperties
}

// tryOnly is a done context: paho's state then takes a slot of the send
// quota only if one is free at once, and fails with context.Canceled rather
// than waiting.
var tryOnly = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// sendAll writes the messages as QoS 1 PUBLISH packets, in order, in as
// few writes as the server's Receive Maximum allows, and returns one wait
// per message for its PUBACK. Batches sent one after another by one
// goroutine are written in that order, which is the order the server
// delivers them in. sendAll blocks only while the server's Receive Maximum
// of publishes is unacknowledged, and then only after writing what it
// holds (so that PUBACKs can come back). After a message that could not be
// written, the rest are not written either (their waits fail with it), so a
// retry keeps their order. A wait ends with errDropped when the connection
// drops (the kernel sends the message again) and is bounded by the timeout.
func (s *session) sendAll(ctx context.Context, msgs []outgoing) []func() error {
	waits := make([]func() error, len(msgs))
	conn, lost := s.pubs.current()
	var failed error
	failAt := func(i int, err error) {
		err = fmt.Errorf("mqtt: publish to %s on %s: %w", msgs[i].topic, s.key.servers, err)
		waits[i] = func() error { return err }
		if failed == nil {
			failed = err
		}
	}
	if conn == nil {
		failed = errDropped
	}
	var buf bytes.Buffer
	var held []int // added to the session state and encoded in buf, not written
	flush := func() {
		if len(held) > 0 {
			if err := s.pubs.write(conn, lost, buf.Bytes()); err != nil {
				for _, i := range held {
					failAt(i, err)
				}
			}
		}
		buf.Reset()
		held = held[:0]
	}
	for i, m := range msgs {
		if failed != nil {
			err := fmt.Errorf("mqtt: not sent after an earlier message failed: %w", failed)
			waits[i] = func() error { return err }
			continue
		}
		pub := &paho.Publish{QoS: 1, Topic: m.topic, Payload: m.payload, Properties: &paho.PublishProperties{User: m.props}}
		pb := pub.Packet()
		resp := make(chan packets.ControlPacket, 1)
		err := s.pubs.AddToSession(tryOnly, pb, resp)
		if errors.Is(err, context.Canceled) {
			// No slot free: write what is held, whose PUBACKs free them.
			flush()
			if failed != nil {
				err := fmt.Errorf("mqtt: not sent after an earlier message failed: %w", failed)
				waits[i] = func() error { return err }
				continue
			}
			actx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
			err = s.pubs.AddToSession(actx, pb, resp)
			cancel()
		}
		if err != nil {
			failAt(i, err)
			continue
		}
		if _, err := pb.WriteTo(&buf); err != nil {
			failAt(i, err)
			continue
		}
		held = append(held, i)
		waits[i] = s.awaitPuback(ctx, m.topic, resp, lost)
	}
	flush()
	return waits
}

// awaitPuback returns the wait for the PUBACK of a publish written on the
// connection whose drop closes lost.
func (s *session) awaitPuback(ctx context.Context, topic string, resp <-chan packets.ControlPacket, lost <-chan struct{}) func() error {
	return func() error {
		fail := func(err error) error {
			return fmt.Errorf("mqtt: publish to %s on %s: %w", topic, s.key.servers, err)
		}
		timer := time.NewTimer(s.cfg.timeout)
		defer timer.Stop()
		var cp packets.ControlPacket
		select {
		case cp = <-resp:
		case <-lost:
			return fail(errDropped)
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-timer.C:
			return fail(fmt.Errorf("no acknowledgement within %v", s.cfg.timeout))
		}
		ack, ok := cp.Content.(*packets.Puback)
		if !ok {
			return fail(errDropped)
		}
		return pubackErr(topic, s.key.servers, ack.ReasonCode)
	}
}

// pubackErr is the outcome of a PUBACK's reason code. 0x10: the server
// accepted the message but no subscription took it, so it is gone. That is
// reported, and retried by the kernel: after a server restart the publisher
// may reconnect before the subscribers have renewed their shared
// subscription.
func pubackErr(topic, servers string, code byte) error {
	switch {
	case code == 0x10:
		return fmt.Errorf("mqtt: publish to %s on %s: %w", topic, servers, ErrNoSubscribers)
	case code >= 0x80:
		return fmt.Errorf("mqtt: publish to %s on %s refused with reason code 0x%02x", topic, servers, code)
	}
	return nil
}
