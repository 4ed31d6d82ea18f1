package swarmtest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/kernel"
	"github.com/swarm-go/swarm/listen"
)

var (
	_ = register("RoundTrip", testRoundTrip)
	_ = register("Attributes", testAttributes)
	_ = register("Event", testEvent)
	_ = register("Binary", testBinary)
	_ = register("Categories", testCategories)
	_ = register("Isolation", testIsolation)
	_ = register("ManyPublishersAndSubscribers", testMany)
	_ = register("Order", testOrder)
)

func testRoundTrip(t *testing.T, h *harness) {
	q := h.open()
	enq, _ := emit.Typed[Note](q)
	deq, ack := listen.Typed[Note](q)
	enq <- Note{Seq: 1, Text: "hello"}
	m := recv(t, h.cfg.Timeout, deq, ack, 1)[0]
	if m.Object != (Note{Seq: 1, Text: "hello"}) {
		t.Errorf("Object = %+v, want {1 hello}", m.Object)
	}
	if m.Attempt() != 1 || m.Category() != "Note" || m.ID() == "" {
		t.Errorf("attempt %d category %q id %q, want 1, Note, an id", m.Attempt(), m.Category(), m.ID())
	}
}

// testAttributes sends attributes through the driver port, since typed
// channels set none themselves, and reads them back on a message.
func testAttributes(t *testing.T, h *harness) {
	q := h.open()
	deq, ack := listen.Bytes(q, swarm.NewCodecBytes("attrs"))
	e, err := q.Kernel().Emitter("attrs", "[]byte:attrs", false)
	if err != nil {
		t.Fatal(err)
	}
	env := e.Envelope([]byte("x"))
	env.Attrs = map[string]string{"tenant": "acme", "trace-id": "0af7651916cd43dd"}
	if errs := e.Send(context.Background(), []kernel.Envelope{env}); errs != nil {
		t.Fatalf("send: %v", errs[0])
	}
	m := recv(t, h.cfg.Timeout, deq, ack, 1)[0]
	if got := m.Attrs(); got["tenant"] != "acme" || got["trace-id"] != "0af7651916cd43dd" {
		t.Errorf("attrs = %v, want tenant=acme trace-id=0af7651916cd43dd", got)
	}
	if m.ID() != env.ID {
		t.Logf("broker id %q differs from emitted id %q (allowed)", m.ID(), env.ID)
	}
}

func testEvent(t *testing.T, h *harness) {
	q := h.open()
	enq, _ := emit.Event[swarm.Meta, Note](q)
	deq, ack := listen.Event[swarm.Meta, Note](q)
	sent := &swarm.Meta{Source: "swarmtest", Subject: "note/7", CorrelationID: "c-1"}
	enq <- swarm.Event[swarm.Meta, Note]{Meta: sent, Data: &Note{Seq: 7}}
	m := recv(t, h.cfg.Timeout, deq, ack, 1)[0]
	got := m.Object
	if got.Data == nil || got.Data.Seq != 7 || got.Meta == nil {
		t.Fatalf("event = %+v", got)
	}
	meta := got.Meta
	if meta.Source != "swarmtest" || meta.Subject != "note/7" || meta.CorrelationID != "c-1" ||
		meta.Type != "Note" || meta.ID == "" || meta.SpecVersion != "1.0" || meta.Created.IsZero() {
		t.Errorf("meta = %+v: want source, subject, correlation kept and type, id, specversion, time filled", meta)
	}
	if sent.ID != "" {
		t.Errorf("emit modified the caller's Meta: %+v", sent)
	}
}

func testBinary(t *testing.T, h *harness) {
	q := h.open()
	codec := swarm.NewCodecBytes("blob")
	enq, _ := emit.Bytes(q, codec)
	deq, ack := listen.Bytes(q, codec)
	payload := make([]byte, 512)
	for i := range payload {
		payload[i] = byte(i) // every byte value, invalid UTF-8 included
	}
	enq <- payload
	m := recv(t, h.cfg.Timeout, deq, ack, 1)[0]
	if !bytes.Equal(m.Object, payload) {
		t.Errorf("payload changed in transit: got %d bytes %x...", len(m.Object), m.Object[:min(16, len(m.Object))])
	}
}

func testCategories(t *testing.T, h *harness) {
	q := h.open()
	notes, _ := emit.Typed[Note](q)
	others, _ := emit.Typed[Other](q)
	renamed, _ := emit.Typed[Note](q, swarm.Category("note.v2"))
	deqN, ackN := listen.Typed[Note](q)
	deqO, ackO := listen.Typed[Other](q)
	deqR, ackR := listen.Typed[Note](q, swarm.Category("note.v2"))
	const n = 20
	for i := range n {
		notes <- Note{Seq: i}
		others <- Other{N: i}
		renamed <- Note{Seq: 1000 + i}
	}
	for _, m := range recv(t, h.cfg.Timeout, deqN, ackN, n) {
		if m.Object.Seq >= 1000 || m.Category() != "Note" {
			t.Fatalf("Note channel got %+v of category %q", m.Object, m.Category())
		}
	}
	for _, m := range recv(t, h.cfg.Timeout, deqO, ackO, n) {
		if m.Category() != "Other" {
			t.Fatalf("Other channel got category %q", m.Category())
		}
	}
	for _, m := range recv(t, h.cfg.Timeout, deqR, ackR, n) {
		if m.Object.Seq < 1000 || m.Category() != "note.v2" {
			t.Fatalf("note.v2 channel got %+v of category %q", m.Object, m.Category())
		}
	}

	// Two types claiming one category is an error at registration.
	mustPanic(t, swarm.ErrCategoryConflict, func() { listen.Typed[Other](q, swarm.Category("Note")) })
	mustPanic(t, swarm.ErrCategoryConflict, func() { emit.Typed[Other](q, swarm.Category("Note")) })
	mustPanic(t, swarm.ErrCategoryConflict, func() { listen.Typed[Note](q) })
}

func mustPanic(t *testing.T, want error, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("registration did not fail; want a panic with %v", want)
		}
		if msg := fmt.Sprint(r); !bytes.Contains([]byte(msg), []byte(want.Error()[len("swarm: "):])) {
			t.Fatalf("panic %q does not name %v", msg, want)
		}
	}()
	f()
}

func testIsolation(t *testing.T, h *harness) {
	a := h.open()
	b := h.openOn(h.cfg.Open, h.queue+"-b")
	enqA, _ := emit.Typed[Note](a)
	deqB, _ := listen.Typed[Note](b)
	deqA, ackA := listen.Typed[Note](a)
	enqA <- Note{Seq: 1}
	recv(t, h.cfg.Timeout, deqA, ackA, 1)
	quiet(t, 300*time.Millisecond, deqB, "queue B received a message sent to queue A")
}

func testMany(t *testing.T, h *harness) {
	const publishers, subscribers, each = 4, 3, 250
	var wg sync.WaitGroup
	for p := range publishers {
		q := h.open()
		enq, _ := emit.Typed[Note](q)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				enq <- Note{Seq: p*each + i}
			}
			if err := q.Close(); err != nil {
				t.Errorf("close publisher: %v", err)
			}
		}()
	}
	if !h.caps.ConsumerGroups {
		t.Log("broker has no consumer groups: one subscriber receives everything")
	}
	subs := subscribers
	if !h.caps.ConsumerGroups {
		subs = 1
	}
	var mu sync.Mutex
	seen := map[int]int{}
	total := publishers * each
	done := make(chan struct{})
	for range subs {
		q := h.open()
		deq, ack := listen.Typed[Note](q)
		go func() {
			for m := range deq {
				mu.Lock()
				seen[m.Object.Seq]++
				if len(seen) == total {
					select {
					case <-done:
					default:
						close(done)
					}
				}
				mu.Unlock()
				ack <- m
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(3 * h.cfg.Timeout):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("received %d distinct of %d messages", len(seen), total)
	}
}

func testOrder(t *testing.T, h *harness) {
	q := h.open()
	need(t, h.caps.Ordered, "ordering")
	enq, _ := emit.Typed[Note](q)
	deq, ack := listen.Typed[Note](q)
	const n = 1000
	go func() {
		for i := range n {
			enq <- Note{Seq: i}
		}
	}()
	for i, m := range recv(t, h.cfg.Timeout, deq, ack, n) {
		if m.Object.Seq != i {
			t.Fatalf("message %d has seq %d: order not kept", i, m.Object.Seq)
		}
	}
}
