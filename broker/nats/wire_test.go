package nats

import (
	"testing"

	"github.com/swarm-go/swarm/kernel"
)

// TestDelivered reads the delivery count from both ack subject formats, as
// nats.go's Metadata does, and refuses what is not one.
func TestDelivered(t *testing.T) {
	for _, c := range []struct {
		reply string
		n     int
		ok    bool
	}{
		{"$JS.ACK.orders.swarm.3.17.12.1700000000000000000.5", 3, true},
		{"$JS.ACK._.ABCHASH.orders.swarm.7.17.12.1700000000000000000.5.rnd", 7, true},
		{"$JS.ACK.hub.ABCHASH.orders.swarm.12.17.12.1700000000000000000.5", 12, true},
		{"$JS.ACK.orders.swarm.x.17.12.1.5", 0, false},
		{"$JS.ACK.orders.swarm.3.17.12.1", 0, false},
		{"$JS.ACK.a.b.c.d.3.17.12.1", 0, false}, // 10 tokens
		{"_INBOX.abc", 0, false},
		{"", 0, false},
	} {
		n, ok := delivered(c.reply)
		if n != c.n || ok != c.ok {
			t.Errorf("delivered(%q) = %d, %v; want %d, %v", c.reply, n, ok, c.n, c.ok)
		}
	}
}

// TestMessageHeaders checks the headers message builds, with and without
// an id.
func TestMessageHeaders(t *testing.T) {
	m := message("q", &kernel.Envelope{Category: "a b", ID: "id/1"})
	if got := m.Header.Get(HeaderCategory); got != "a+b" {
		t.Errorf("category header %q", got)
	}
	if got := m.Header.Get("Nats-Msg-Id"); got != "id%2F1" {
		t.Errorf("id header %q", got)
	}
	if m := message("q", &kernel.Envelope{Category: "c"}); len(m.Header) != 1 {
		t.Errorf("headers without an id: %v", m.Header)
	}
}
