package mqtt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"
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
	return &pubState{State: state.NewInMemory(), lost: lost}
}

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

// errDropped is the outcome of a publish whose connection dropped before
// the server acknowledged it.
var errDropped = errors.New("the connection dropped before the server acknowledged it")

// send writes one QoS 1 PUBLISH to topic and returns the wait for the
// server's PUBACK, or the error that kept it from being written. Publishes started one after another by one goroutine
// are written in that order, which is the order the server delivers them
// in. start blocks only while the server's Receive Maximum of publishes is
// unacknowledged. The wait ends with errDropped when the connection drops
// (the kernel sends the message again) and is bounded by the timeout.
func (s *session) send(ctx context.Context, topic string, payload []byte, props paho.UserProperties) (wait func() error, err error) {
	fail := func(err error) error {
		return fmt.Errorf("mqtt: publish to %s on %s: %w", topic, s.key.servers, err)
	}
	conn, lost := s.pubs.current()
	if conn == nil {
		return nil, fail(errDropped)
	}
	pub := &paho.Publish{QoS: 1, Topic: topic, Payload: payload, Properties: &paho.PublishProperties{User: props}}
	pb := pub.Packet()
	resp := make(chan packets.ControlPacket, 1)
	actx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	err = s.pubs.AddToSession(actx, pb, resp)
	cancel()
	if err != nil {
		return nil, fail(err)
	}
	select {
	case <-lost:
		// The packet id may belong to the next connection: not written.
		return nil, fail(errDropped)
	default:
	}
	if _, err := pb.WriteTo(conn); err != nil {
		return nil, fail(fmt.Errorf("%w: %w", errDropped, err))
	}
	return func() error {
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
	}, nil
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
