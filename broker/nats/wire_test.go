package nats

import (
	"context"
	"net/url"
	"slices"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm/kernel"
)

// TestAckTokens reads the stream, sequence and delivery count from both
// ack subject formats, as nats.go's Metadata does, and refuses what is not
// one.
func TestAckTokens(t *testing.T) {
	for _, c := range []struct {
		reply, stream, seq string
		n                  int
		ok                 bool
	}{
		{"$JS.ACK.orders.swarm.3.17.12.1700000000000000000.5", "orders", "17", 3, true},
		{"$JS.ACK._.ABCHASH.orders.swarm.7.18.12.1700000000000000000.5.rnd", "orders", "18", 7, true},
		{"$JS.ACK.hub.ABCHASH.orders.swarm.12.19.12.1700000000000000000.5", "orders", "19", 12, true},
		{"$JS.ACK.orders.swarm.x.17.12.1.5", "", "", 0, false},
		{"$JS.ACK.orders.swarm.3.x.12.1.5", "", "", 0, false},
		{"$JS.ACK.orders.swarm.3.17.12.1", "", "", 0, false},
		{"$JS.ACK.a.b.c.d.3.17.12.1", "", "", 0, false}, // 10 tokens
		{"_INBOX.abc", "", "", 0, false},
		{"", "", "", 0, false},
	} {
		stream, seq, n, ok := ackTokens(c.reply)
		if stream != c.stream || seq != c.seq || n != c.n || ok != c.ok {
			t.Errorf("ackTokens(%q) = %q, %q, %d, %v; want %q, %q, %d, %v", c.reply, stream, seq, n, ok, c.stream, c.seq, c.n, c.ok)
		}
	}
}

// TestSubjectToken: every category becomes one subject token, kept as it is
// when it is plain, and is read back from the subject.
func TestSubjectToken(t *testing.T) {
	for _, c := range []struct{ category, subject string }{
		{"Order", "q.category.Order"},
		{"order_v2-x", "q.category.order_v2-x"},
		{"main.Order", "q.category.main%2EOrder"},
		{"Box[main.Order]", "q.category.Box%5Bmain%2EOrder%5D"},
		{"a b*>\t%é", "q.category.a%20b%2A%3E%09%25%C3%A9"},
		{"", "q"},
	} {
		got := categorySubject("q", c.category)
		if got != c.subject {
			t.Errorf("categorySubject(q, %q) = %q, want %q", c.category, got, c.subject)
		}
		back, ok := categoryOfSubject(got, "q"+categoryInfix)
		if c.category != "" && (!ok || back != c.category) {
			t.Errorf("categoryOfSubject(%q) = %q, %v; want %q", got, back, ok, c.category)
		}
	}
	if _, ok := categoryOfSubject("q.category.x", ""); ok {
		t.Error("a category read from the subject of a queue whose wire uses headers")
	}
}

// TestMessageHeaders checks the headers each wire builds: none on the
// category subjects without attributes or deduplication; category and id
// (escaped) on a stream of the queue's subject alone.
func TestMessageHeaders(t *testing.T) {
	env := &kernel.Envelope{Category: "a b", ID: "id/1"}
	var m natsgo.Msg
	wire{catPrefix: "q" + categoryInfix}.setMessage(&m, "q.category.a%20b", env)
	if m.Header != nil || m.Subject != "q.category.a%20b" {
		t.Errorf("category subject wire: subject %q, headers %v; want no header", m.Subject, m.Header)
	}
	wire{catPrefix: "q" + categoryInfix, idKey: "Nats-Msg-Id"}.setMessage(&m, "q.category.a%20b", env)
	if len(m.Header) != 1 || m.Header.Get("Nats-Msg-Id") != "id%2F1" {
		t.Errorf("category subject wire with deduplication: headers %v; want Nats-Msg-Id alone", m.Header)
	}
	wire{idKey: HeaderID}.setMessage(&m, "q", env)
	if got := m.Header.Get(HeaderCategory); got != "a+b" {
		t.Errorf("category header %q", got)
	}
	if got := m.Header.Get(HeaderID); got != "id%2F1" {
		t.Errorf("id header %q", got)
	}
	if got := m.Header.Get("Nats-Msg-Id"); got != "" {
		t.Errorf("Nats-Msg-Id %q without WithDeduplication", got)
	}
	wire{idKey: HeaderID}.setMessage(&m, "q", &kernel.Envelope{Category: "c"})
	if len(m.Header) != 1 {
		t.Errorf("headers without an id: %v", m.Header)
	}
}

// TestDeduplication: a message sent twice with one id is stored twice by
// default, each delivery with its stream sequence as id, and stored once
// with WithDeduplication, delivered with that id; the id a message of an
// earlier version carries in Nats-Msg-Id is read as its id.
func TestDeduplication(t *testing.T) {
	js, s := embedded(t)
	ctx := context.Background()
	for _, c := range []struct {
		queue  string
		opts   []Option
		stored int
		ids    []string
	}{
		{"plain", nil, 2, []string{"plain:1", "plain:2"}},
		{"dedup", []Option{WithDeduplication()}, 1, []string{"same-id"}},
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
		for i, e := range got {
			if i < len(c.ids) && (e.ID != c.ids[i] || e.Category != "cat") {
				t.Errorf("%s: delivery %d: id %q, category %q; want %s, cat", c.queue, i, e.ID, e.Category, c.ids[i])
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
	if err != nil || len(got) != 1 || got[0].ID != "old-id" || got[0].Category != "cat" {
		t.Errorf("received %+v, %v; want one delivery of id old-id, category cat", got, err)
	}
}

// TestWireByStream: on a stream this broker created, a message goes to its
// category's subject without headers; on an existing stream of the queue's
// subject alone (an earlier version's), to that subject with the category
// and id in headers, and the consumer filters on it. Both read back whole,
// and a dead letter carries the category and id in headers either way.
func TestWireByStream(t *testing.T) {
	js, s := embedded(t)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "legacy", Subjects: []string{"legacy"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		queue, subject, filter string
		headers                []string
	}{
		{"fresh", "fresh.category.main%2ENote", "", nil},
		{"legacy", "legacy", "legacy", []string{HeaderCategory, HeaderID}},
	} {
		d := openTest(t, c.queue, WithServer(s))
		if d.consumer.FilterSubject != c.filter {
			t.Errorf("%s: consumer filter %q, want %q", c.queue, d.consumer.FilterSubject, c.filter)
		}
		env := kernel.Envelope{Category: "main.Note", ID: "e-1", Payload: []byte("x")}
		if errs := d.Send(ctx, []kernel.Envelope{env}); errs != nil {
			t.Fatalf("%s: send: %v", c.queue, errs)
		}
		stream, err := js.Stream(ctx, c.queue)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := stream.GetMsg(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range raw.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if raw.Subject != c.subject || !slices.Equal(keys, c.headers) {
			t.Errorf("%s: stored on %q with headers %v; want %q with %v", c.queue, raw.Subject, keys, c.subject, c.headers)
		}
		got, err := d.Receive(ctx, 10)
		if err != nil || len(got) != 1 || got[0].Category != "main.Note" || got[0].ID == "" {
			t.Fatalf("%s: received %+v, %v; want category main.Note with an id", c.queue, got, err)
		}
		dl := d.deadLetterMsg(got[0].Handle.(jetstream.Msg))
		if dl.Header.Get(HeaderCategory) != "main.Note" || dl.Header.Get(HeaderID) != url.QueryEscape(got[0].ID) ||
			dl.Header.Get(jetstream.MsgIDHeader) != url.QueryEscape(got[0].ID) {
			t.Errorf("%s: dead letter headers %v; want category main.Note, id %q twice", c.queue, dl.Header, got[0].ID)
		}
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
