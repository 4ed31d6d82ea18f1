package nats

import (
	"context"
	"testing"

	natsgo "github.com/nats-io/nats.go"

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
	m := message("q", HeaderID, &kernel.Envelope{Category: "a b", ID: "id/1"})
	if got := m.Header.Get(HeaderCategory); got != "a+b" {
		t.Errorf("category header %q", got)
	}
	if got := m.Header.Get(HeaderID); got != "id%2F1" {
		t.Errorf("id header %q", got)
	}
	if got := m.Header.Get("Nats-Msg-Id"); got != "" {
		t.Errorf("Nats-Msg-Id %q without WithDeduplication", got)
	}
	if m := message("q", HeaderID, &kernel.Envelope{Category: "c"}); len(m.Header) != 1 {
		t.Errorf("headers without an id: %v", m.Header)
	}
}

// TestDeduplication: a message sent twice with one id is stored twice and
// delivered with that id both times by default, and stored once with
// WithDeduplication; the id a message of an earlier version carries in
// Nats-Msg-Id is read as its id.
func TestDeduplication(t *testing.T) {
	js, s := embedded(t)
	ctx := context.Background()
	for _, c := range []struct {
		queue  string
		opts   []Option
		stored int
	}{
		{"plain", nil, 2},
		{"dedup", []Option{WithDeduplication()}, 1},
	} {
		d := openTest(t, c.queue, append(c.opts, WithServer(s))...)
		env := kernel.Envelope{Category: "cat", ID: "same-id", Payload: []byte("x")}
		for range 2 {
			if errs := d.Send(ctx, []kernel.Envelope{env}); errs != nil {
				t.Fatalf("%s: send: %v", c.queue, errs)
			}
		}
		got, err := d.Receive(ctx, 10)
		if err != nil {
			t.Fatalf("%s: receive: %v", c.queue, err)
		}
		if len(got) != c.stored {
			t.Errorf("%s: %d deliveries of a message sent twice, want %d", c.queue, len(got), c.stored)
		}
		for _, e := range got {
			if e.ID != "same-id" {
				t.Errorf("%s: delivery id %q, want same-id", c.queue, e.ID)
			}
		}
	}
	// A message of an earlier version, its id in Nats-Msg-Id.
	d := openTest(t, "old", WithServer(s))
	m := &natsgo.Msg{Subject: "old", Header: natsgo.Header{"Nats-Msg-Id": {"old-id"}, HeaderCategory: {"cat"}}, Data: []byte("y")}
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, err := d.Receive(ctx, 10)
	if err != nil || len(got) != 1 || got[0].ID != "old-id" {
		t.Errorf("received %+v, %v; want one delivery of id old-id", got, err)
	}
}

// openTest opens the driver of queue and closes it when the test ends.
func openTest(t *testing.T, queue string, opts ...Option) *driver {
	t.Helper()
	cfg, err := kernel.NewConfig()
	if err != nil {
		t.Fatal(err)
	}
	conf, err := newConfig(queue, opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := open(queue, conf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}
