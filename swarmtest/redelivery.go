package swarmtest

import (
	"errors"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

var (
	_ = register("RedeliveryAfterFail", testFail)
	_ = register("RedeliveryAfterNoAck", testNoAck)
	_ = register("AttemptCount", testAttempts)
	_ = register("DeadLetterAfterMaxAttempts", testDeadLetter)
	_ = register("LeaseExtension", testLease)
	_ = register("AtMostOnce", testAtMostOnce)
	_ = register("FlowControl", testFlowControl)
)

var errHandler = errors.New("swarmtest: handler failed on purpose")

func testFail(t *testing.T, h *harness) {
	q := h.open()
	need(t, h.caps.Redelivery, "redelivery")
	enq, _ := emit.Typed[Note](q)
	deq, ack := listen.Typed[Note](q)
	enq <- Note{Seq: 1}
	first := recv(t, h.cfg.Timeout, deq, nil, 1)[0]
	start := time.Now()
	ack <- first.Fail(errHandler)
	again := recv(t, h.cfg.Timeout, deq, ack, 1)[0]
	if again.Object.Seq != 1 || again.Attempt() != 2 {
		t.Fatalf("redelivered %+v attempt %d, want seq 1 attempt 2", again.Object, again.Attempt())
	}
	// The redelivery backoff is 20ms: "promptly" means well under a lease.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("redelivery after Fail took %v", d)
	}
	quiet(t, 300*time.Millisecond, deq, "an acked message came back")
}

// testNoAck: a consumer that goes away with a message unacked hands it back
// at once, so another consumer gets it without waiting for the lease.
func testNoAck(t *testing.T, h *harness) {
	lease := swarm.WithTimeToFlight(time.Minute)
	q1 := h.open(lease)
	need(t, h.caps.Redelivery, "redelivery")
	enq, _ := emit.Typed[Note](q1)
	deq1, _ := listen.Typed[Note](q1)
	enq <- Note{Seq: 9}
	recv(t, h.cfg.Timeout, deq1, nil, 1)
	start := time.Now()
	if err := q1.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := h.open(lease)
	deq2, ack2 := listen.Typed[Note](q2)
	m := recv(t, h.cfg.Timeout, deq2, ack2, 1)[0]
	if m.Object.Seq != 9 {
		t.Fatalf("got %+v", m.Object)
	}
	if m.Attempt() < 2 {
		t.Errorf("redelivered message has attempt %d, want 2 or more", m.Attempt())
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("unacked message came back after %v: not released at Close", d)
	}
}

func testAttempts(t *testing.T, h *harness) {
	q := h.open(swarm.WithRedelivery(swarm.ConstantBackoff(10*time.Millisecond, 10)))
	need(t, h.caps.Redelivery, "redelivery")
	enq, _ := emit.Typed[Note](q)
	deq, ack := listen.Typed[Note](q)
	enq <- Note{Seq: 3}
	for want := 1; want <= 4; want++ {
		m := recv(t, h.cfg.Timeout, deq, nil, 1)[0]
		if m.Attempt() != want {
			t.Fatalf("delivery %d has attempt %d", want, m.Attempt())
		}
		if want < 4 {
			ack <- m.Fail(errHandler)
		} else {
			ack <- m
		}
	}
}

func testDeadLetter(t *testing.T, h *harness) {
	const attempts = 3
	q := h.open(swarm.WithRedelivery(swarm.ConstantBackoff(10*time.Millisecond, attempts)))
	need(t, h.caps.Redelivery, "redelivery")
	enq, _ := emit.Typed[Note](q)
	deq, ack := listen.Typed[Note](q)
	enq <- Note{Seq: 5}
	for i := 1; i <= attempts; i++ {
		m := recv(t, h.cfg.Timeout, deq, nil, 1)[0]
		ack <- m.Fail(errHandler)
	}
	e := h.errs.wait(t, h.cfg.Timeout, swarm.ErrMaxAttempts, nil)
	if !errors.Is(e, errHandler) || e.Category != "Note" || e.ID == "" {
		t.Errorf("dead-letter report %v: want the handler's error, the category and the id", e)
	}
	quiet(t, 500*time.Millisecond, deq, "a dead-lettered message was delivered again")
	if h.cfg.OpenDeadLetters == nil {
		t.Skip("skipped the dead-letter read-back: Config.OpenDeadLetters is nil")
	}
	dl := h.openOn(h.cfg.OpenDeadLetters, h.queue)
	deqDL, ackDL := listen.Typed[Note](dl)
	if m := recv(t, h.cfg.Timeout, deqDL, ackDL, 1)[0]; m.Object.Seq != 5 {
		t.Errorf("dead letter is %+v, want seq 5", m.Object)
	}
}

// testLease: a slow handler keeps its message; no competing consumer gets it
// while the lease is extended, and once acked it never comes back.
func testLease(t *testing.T, h *harness) {
	lease := swarm.WithTimeToFlight(time.Second)
	q := h.open(lease)
	need(t, h.caps.Lease > 0, "a lease")
	if h.caps.Lease > 3*time.Second {
		t.Skipf("skipped: the broker's lease is %v regardless of WithTimeToFlight, too long to wait out here", h.caps.Lease)
	}
	enq, _ := emit.Typed[Note](q)
	deq, ack := listen.Typed[Note](q)
	enq <- Note{Seq: 4}
	m := recv(t, h.cfg.Timeout, deq, nil, 1)[0]
	// A competing consumer, opened once the message is in hand.
	other := h.open(lease)
	deqOther, _ := listen.Typed[Note](other)
	hold := 3*h.caps.Lease + time.Second
	quiet(t, hold, deqOther, "a message held by a slow handler was redelivered while its lease should be extended")
	ack <- m
	quiet(t, 2*h.caps.Lease, deqOther, "an acked message came back")
	quiet(t, 10*time.Millisecond, deq, "an acked message came back")
}

func testAtMostOnce(t *testing.T, h *harness) {
	q := h.open(swarm.WithPolicyAtMostOnce(16))
	enq, _ := emit.Typed[Note](q)
	deq, _ := listen.Typed[Note](q)
	for i := range 10 {
		enq <- Note{Seq: i}
	}
	recv(t, h.cfg.Timeout, deq, nil, 10) // never acked: settled on receipt
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := h.open()
	deq2, _ := listen.Typed[Note](q2)
	quiet(t, time.Second, deq2, "a message received at-most-once was delivered again")
}

// testFlowControl: a consumer that stops reading holds no more than its
// in-flight bound; a competing consumer gets the rest (where the broker's
// consumers compete per message rather than per partition).
func testFlowControl(t *testing.T, h *harness) {
	const bound, total = 8, 200
	stalled := h.open(swarm.WithAckCapacity(bound), swarm.WithRecvCapacity(2))
	enq, _ := emit.Typed[Note](stalled)
	listen.Typed[Note](stalled) // never read
	for i := range total {
		enq <- Note{Seq: i}
	}
	time.Sleep(500 * time.Millisecond)
	if n := stalled.Kernel().InFlight(); n == 0 || n > bound {
		t.Fatalf("the stalled consumer holds %d deliveries, want between 1 and its bound %d", n, bound)
	}
	need(t, h.caps.ConsumerGroups && !h.caps.Partitioned, "consumer groups that compete per message (to observe what a stalled consumer leaves)")
	q := h.open()
	deq, ack := listen.Typed[Note](q)
	recv(t, h.cfg.Timeout, deq, ack, total-bound)
}
