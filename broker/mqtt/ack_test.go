package mqtt

import (
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// TestAckOnAClosingConnection: paho forgets the pending acks of a
// connection as it closes (Ack then fails with ErrPacketNotFound) before
// the client reports it done. Such an ack is no error to report: the
// server sends the message again on the next connection.
func TestAckOnAClosingConnection(t *testing.T) {
	cli := paho.NewClient(paho.ClientConfig{EnableManualAcknowledgment: true})
	dv := &delivery{
		s:   &session{key: sessionKey{servers: "mqtt://127.0.0.1:1"}, topic: "q"},
		cli: cli,
		pub: &paho.Publish{QoS: 1, PacketID: 7, Topic: "q"},
	}
	if dv.stale() {
		t.Fatal("a client that never closed is stale")
	}
	if err := dv.ack(); err != nil {
		t.Errorf("ack of a packet the closing connection forgot = %v, want nil", err)
	}
}
