package mqtt

import (
	"io"
	"sync"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho/session/state"
)

// subState is the session state of the receiving connection. It is paho's
// own (state.State) for everything but the acknowledgement of QoS 1
// messages, which swarm writes itself when the application acks: MQTT
// requires PUBACKs in the order the messages were received, and paho's
// manual acknowledgement keeps that order by searching a list of every
// unacked packet on each receive and each ack, then writes the acked
// prefix only every SendAcksInterval. subState keeps the unacked
// deliveries in receive order instead and writes the acked prefix at once,
// all of its PUBACKs in one write.
//
// paho calls Ack as each message's handler returns (manual acknowledgement
// is off); for QoS 1 that is a no-op here, as the handler only buffered the
// message.
type subState struct {
	*state.State

	mu    sync.Mutex
	conn  io.Writer   // the connection up, nil while down
	gen   uint64      // counts connections and drops, so acks never cross them
	order []*delivery // unacked deliveries of this connection, in receive order
	head  int         // order[:head] are acked and written
	out   []byte      // PUBACKs being written
}

func newSubState() *subState {
	return &subState{State: state.NewInMemory()}
}

// ConAckReceived starts a connection: deliveries of earlier ones are never
// acked on it (their packet ids mean other messages here).
func (a *subState) ConAckReceived(conn io.Writer, cp *packets.Connect, ca *packets.Connack) error {
	a.mu.Lock()
	a.gen++
	a.conn = conn
	a.order, a.head = nil, 0
	a.mu.Unlock()
	return a.State.ConAckReceived(conn, cp, ca)
}

// ConnectionLost ends the connection: its unacked deliveries are sent again
// by the server on the next one.
func (a *subState) ConnectionLost(dp *packets.Disconnect) error {
	a.mu.Lock()
	a.gen++
	a.conn = nil
	a.order, a.head = nil, 0
	a.mu.Unlock()
	return a.State.ConnectionLost(dp)
}

// Ack is paho's automatic acknowledgement after the handlers ran; swarm
// acks QoS 1 messages when the application does (see ack).
func (a *subState) Ack(pb *packets.Publish) error {
	if pb.QoS == 1 {
		return nil
	}
	return a.State.Ack(pb)
}

// track records dv, just received, at the tail of the receive order. It
// runs on paho's routing goroutine, in receive order. A delivery that
// arrives while no connection is up (paho drains its buffer after the
// drop) is not tracked: the server sends it again.
func (a *subState) track(dv *delivery) {
	if dv.pub.QoS == 0 {
		dv.acked = true
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == nil {
		return
	}
	dv.gen = a.gen
	a.order = append(a.order, dv)
}

// ack marks the deliveries acked and writes the PUBACKs of the acked prefix
// of the receive order, in order, in one write. Deliveries of a connection
// that is gone are skipped: the server sends them again.
func (a *subState) ack(dvs ...*delivery) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, dv := range dvs {
		if dv.gen == a.gen && a.conn != nil {
			dv.acked = true
		}
	}
	a.out = a.out[:0]
	for a.head < len(a.order) && a.order[a.head].acked {
		id := a.order[a.head].pub.PacketID
		a.order[a.head] = nil
		a.head++
		// PUBACK, remaining length 2, packet id (reason 0 and no
		// properties may be left out).
		a.out = append(a.out, packets.PUBACK<<4, 2, byte(id>>8), byte(id))
	}
	if a.head > 0 && a.head >= len(a.order)/2 {
		n := copy(a.order, a.order[a.head:])
		clear(a.order[n:])
		a.order, a.head = a.order[:n], 0
	}
	if len(a.out) == 0 {
		return nil
	}
	if l, ok := a.conn.(sync.Locker); ok {
		// A connection that needs it (see packets.NewThreadSafeConn)
		// serialises paho's writes by its lock.
		l.Lock()
		defer l.Unlock()
	}
	_, err := a.conn.Write(a.out)
	return err
}
