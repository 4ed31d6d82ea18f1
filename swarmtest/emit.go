package swarmtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

var (
	_ = register("EmitterCloseFlushes", testFlush)
	_ = register("SyncEnq", testEnq)
	_ = register("Oversized", testOversized)
	_ = register("UndecodablePayload", testUndecodable)
	_ = register("UnknownCategory", testUnknownCategory)
)

// testFlush: Close sends everything already handed to the emit channel.
func testFlush(t *testing.T, h *harness) {
	const n = 500
	q := h.open()
	enq, dlq := emit.Typed[Note](q)
	for i := range n {
		enq <- Note{Seq: i}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, open := <-dlq; open {
		t.Fatal("a value was dead-lettered during the flush")
	}
	r := h.open()
	deq, ack := listen.Typed[Note](r)
	seen := map[int]bool{}
	for _, m := range recv(t, h.cfg.Timeout, deq, ack, n) {
		seen[m.Object.Seq] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct of %d flushed messages arrived", len(seen), n)
	}
}

func testEnq(t *testing.T, h *harness) {
	q := h.open()
	w := emit.NewTyped[Note](q)
	deq, ack := listen.Typed[Note](q)
	if err := w.Enq(context.Background(), Note{Seq: 1}); err != nil {
		t.Fatalf("Enq: %v", err)
	}
	recv(t, h.cfg.Timeout, deq, ack, 1)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Enq(ctx, Note{Seq: 2}); !errors.Is(err, context.Canceled) {
		t.Errorf("Enq with a cancelled context = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if err := w.Enq(ctx, Note{Seq: 3}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Enq past its deadline = %v, want context.DeadlineExceeded", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Enq(context.Background(), Note{Seq: 4}); !errors.Is(err, swarm.ErrClosed) {
		t.Errorf("Enq after Close = %v, want ErrClosed", err)
	}
}

func testOversized(t *testing.T, h *harness) {
	q := h.open()
	need(t, h.caps.MaxPayload > 0, "a payload limit")
	codec := swarm.NewCodecBytes("big")
	enq, dlq := emit.Bytes(q, codec)
	deq, ack := listen.Bytes(q, codec)
	enq <- make([]byte, h.caps.MaxPayload+1)
	enq <- []byte("small")
	select {
	case v := <-dlq:
		if len(v) != h.caps.MaxPayload+1 {
			t.Fatalf("dead letter has %d bytes", len(v))
		}
	case <-time.After(h.cfg.Timeout):
		t.Fatal("oversized message not on the dead-letter channel")
	}
	e := h.errs.wait(t, h.cfg.Timeout, swarm.ErrTooLarge, nil)
	if e.Category != "big" {
		t.Errorf("report %v does not name the category", e)
	}
	if m := recv(t, h.cfg.Timeout, deq, ack, 1)[0]; string(m.Object) != "small" {
		t.Errorf("the message after the oversized one: %q", m.Object)
	}
}

// testUndecodable: a payload that does not decode is reported with its
// category and id, dead-lettered, and the rest flows.
func testUndecodable(t *testing.T, h *harness) {
	producer := h.open()
	// An in-flight window of two, and more undecodable messages than that:
	// each must give its slot back, or the good one never comes.
	consumer := h.open(swarm.WithAckCapacity(2))
	bad, _ := emit.Bytes(producer, swarm.NewCodecBytes("Note"))
	deq, ack := listen.Typed[Note](consumer)
	for range 3 {
		bad <- []byte("{not json")
	}
	goodNotes, _ := emit.Typed[Note](h.open())
	goodNotes <- Note{Seq: 2}
	m := recv(t, h.cfg.Timeout, deq, ack, 1)[0]
	if m.Object.Seq != 2 {
		t.Fatalf("got %+v", m.Object)
	}
	e := h.errs.wait(t, h.cfg.Timeout, swarm.ErrDecode, nil)
	if e.Category != "Note" || e.ID == "" || !strings.Contains(e.Error(), "Note") {
		t.Errorf("decode report %q lacks the category or id", e)
	}
	quiet(t, 300*time.Millisecond, deq, "the undecodable message was delivered")
	if h.cfg.OpenDeadLetters != nil {
		dl := h.openOn(h.cfg.OpenDeadLetters, h.queue)
		deqDL, ackDL := listen.Bytes(dl, swarm.NewCodecBytes("Note"))
		if m := recv(t, h.cfg.Timeout, deqDL, ackDL, 1)[0]; string(m.Object) != "{not json" {
			t.Errorf("dead letter is %q", m.Object)
		}
	}
}

// testUnknownCategory: a message no listener takes is reported and, after
// the redelivery attempts, settled; the rest flows meanwhile.
func testUnknownCategory(t *testing.T, h *harness) {
	producer := h.open()
	consumer := h.open(swarm.WithRedelivery(swarm.ConstantBackoff(10*time.Millisecond, 2)))
	stray, _ := emit.Typed[Other](producer, swarm.Category("nobody"))
	notes, _ := emit.Typed[Note](producer)
	deq, ack := listen.Typed[Note](consumer)
	stray <- Other{N: 1}
	for i := range 5 {
		notes <- Note{Seq: i}
	}
	recv(t, h.cfg.Timeout, deq, ack, 5)
	e := h.errs.wait(t, h.cfg.Timeout, swarm.ErrUnknownCategory, nil)
	if e.Category != "nobody" || e.ID == "" {
		t.Errorf("report %v lacks the category or id", e)
	}
	if h.caps.Redelivery {
		h.errs.wait(t, h.cfg.Timeout, swarm.ErrMaxAttempts, func(e *swarm.Error) bool { return e.Category == "nobody" })
	}
}
