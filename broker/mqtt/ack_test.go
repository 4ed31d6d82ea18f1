package mqtt

import (
	"bytes"
	"slices"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// ackedIDs parses the PUBACKs written to w, in order.
func ackedIDs(t *testing.T, w *bytes.Buffer) []uint16 {
	t.Helper()
	var ids []uint16
	for w.Len() > 0 {
		cp, err := packets.ReadPacket(w)
		if err != nil {
			t.Fatalf("written bytes are not MQTT packets: %v", err)
		}
		pa, ok := cp.Content.(*packets.Puback)
		if !ok {
			t.Fatalf("wrote a %s, want PUBACK", cp.PacketType())
		}
		ids = append(ids, pa.PacketID)
	}
	return ids
}

func received(a *subState, ids ...uint16) []*delivery {
	dvs := make([]*delivery, len(ids))
	for i, id := range ids {
		dvs[i] = &delivery{pub: &paho.Publish{QoS: 1, PacketID: id, Topic: "q"}}
		a.track(dvs[i])
	}
	return dvs
}

// TestAcksInReceiveOrder: MQTT requires PUBACKs in the order the messages
// were received. An ack out of order waits for the earlier ones; the ack
// that completes a prefix writes all of it at once, in order.
func TestAcksInReceiveOrder(t *testing.T) {
	a := newSubState()
	var w bytes.Buffer
	if err := a.ConAckReceived(&w, &packets.Connect{}, &packets.Connack{}); err != nil {
		t.Fatal(err)
	}
	dvs := received(a, 10, 11, 12, 13, 14)
	if err := a.ack(dvs[2], dvs[1]); err != nil {
		t.Fatal(err)
	}
	if w.Len() != 0 {
		t.Fatalf("acks of 11 and 12 written before 10 was acked: %v", ackedIDs(t, &w))
	}
	if err := a.ack(dvs[0]); err != nil {
		t.Fatal(err)
	}
	if got := ackedIDs(t, &w); !slices.Equal(got, []uint16{10, 11, 12}) {
		t.Fatalf("PUBACKs %v, want [10 11 12]", got)
	}
	more := received(a, 15)
	if err := a.ack(more[0], dvs[4], dvs[3]); err != nil {
		t.Fatal(err)
	}
	if got := ackedIDs(t, &w); !slices.Equal(got, []uint16{13, 14, 15}) {
		t.Fatalf("PUBACKs %v, want [13 14 15]", got)
	}
}

// TestAckAfterReconnect: a packet id names another message on the next
// connection, so the ack of a delivery from a connection that dropped is
// never written (the server sends the message again), and it does not hold
// back the acks of the new connection.
func TestAckAfterReconnect(t *testing.T) {
	a := newSubState()
	var w bytes.Buffer
	_ = a.ConAckReceived(&w, &packets.Connect{}, &packets.Connack{})
	old := received(a, 1, 2)
	_ = a.ConnectionLost(nil)
	late := received(a, 3) // drained by paho after the drop
	if !late[0].stale() {
		t.Error("a delivery received after the drop is not stale")
	}
	if err := a.ack(old[1], late[0]); err != nil {
		t.Fatal(err)
	}
	_ = a.ConAckReceived(&w, &packets.Connect{}, &packets.Connack{SessionPresent: true})
	cur := received(a, 1)
	if err := a.ack(old[0], cur[0]); err != nil {
		t.Fatal(err)
	}
	if got := ackedIDs(t, &w); !slices.Equal(got, []uint16{1}) {
		t.Fatalf("PUBACKs %v, want only [1] of the new connection", got)
	}
}
