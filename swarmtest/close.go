package swarmtest

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

var (
	_ = register("ReopenNoLoss", testReopen)
	_ = register("ConcurrentClose", testConcurrentClose)
	_ = register("SendAfterClose", testLateSend)
	_ = register("NoGoroutineAfterClose", testLeak)
)

// testReopen: subscribers closed and reopened repeatedly, some messages in
// hand and unacked each time, lose nothing.
func testReopen(t *testing.T, h *harness) {
	const n = 300
	enq, _ := emit.Typed[Note](h.open())
	for i := range n {
		enq <- Note{Seq: i}
	}
	seen := map[int]bool{}
	idle := time.Now()
	for round := 0; len(seen) < n; round++ {
		if time.Since(idle) > h.cfg.Timeout {
			t.Fatalf("round %d: nothing new for %v; %d of %d arrived", round, h.cfg.Timeout, len(seen), n)
		}
		q := h.open()
		deq, ack := listen.Typed[Note](q)
	round:
		for i := 0; i < 40 && len(seen) < n; i++ {
			select {
			case m := <-deq:
				idle = time.Now()
				if i%4 == 3 {
					continue // in hand, never acked: Close must release it
				}
				seen[m.Object.Seq] = true
				ack <- m
			case <-time.After(200 * time.Millisecond):
				break round
			}
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		for range deq {
		}
	}
}

func testConcurrentClose(t *testing.T, h *harness) {
	q := h.open()
	enq, dlq := emit.Typed[Note](q)
	deq, ack := listen.Typed[Note](q)
	for i := range 50 {
		enq <- Note{Seq: i}
	}
	go func() {
		for m := range deq {
			ack <- m
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = q.Close() }()
	}
	wg.Wait()
	for _, err := range errs[1:] {
		if !errors.Is(err, errs[0]) && err != errs[0] {
			t.Errorf("concurrent Close returned %v and %v", errs[0], err)
		}
	}
	select {
	case _, open := <-dlq:
		if open {
			t.Error("dead-letter channel still open after Close")
		}
	case <-time.After(time.Second):
		t.Error("dead-letter channel not closed by Close")
	}
}

// testLateSend: a send after Close neither panics nor vanishes silently; a
// late ack never blocks.
func testLateSend(t *testing.T, h *harness) {
	q := h.open(swarm.WithEmitCapacity(1), swarm.WithAckCapacity(4))
	enq, _ := emit.Typed[Note](q)
	deq, ack := listen.Typed[Note](q)
	enq <- Note{Seq: 1}
	m := recv(t, h.cfg.Timeout, deq, nil, 1)[0]
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 3 {
			enq <- Note{Seq: 100 + i}
		}
		ack <- m
		ack <- m
	}()
	select {
	case <-done:
	case <-time.After(h.cfg.Timeout):
		t.Fatal("a send or an ack after Close blocked")
	}
	h.errs.wait(t, h.cfg.Timeout, swarm.ErrClosed, func(e *swarm.Error) bool { return e.Op == "emit" && e.Category == "Note" })
	close(enq)
}

// testLeak: after Close (and the application closing its emit channels),
// no goroutine of swarm or of the broker package is left.
func testLeak(t *testing.T, h *harness) {
	before := goroutineIDs()
	q := h.open()
	enq, _ := emit.Typed[Note](q)
	deq, ack := listen.Typed[Note](q)
	w := emit.NewTyped[Other](q)
	_ = w
	for i := range 20 {
		enq <- Note{Seq: i}
	}
	recv(t, h.cfg.Timeout, deq, ack, 20)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	close(enq)
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := ours(before)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ours lists the goroutines started since before was taken that run or
// were created by code of this module or its brokers, other than the test
// and the suite itself.
func ours(before map[string]bool) []string {
	var left []string
	for _, g := range goroutines() {
		if before[goroutineID(g)] || !strings.Contains(g, "github.com/swarm-go/swarm") {
			continue
		}
		if strings.Contains(g, "swarmtest.") || strings.Contains(g, "testing.tRunner") ||
			strings.Contains(g, "swarm.LogDeadLetters") {
			continue
		}
		left = append(left, g)
	}
	return left
}

func goroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(string(buf[:n]), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// goroutineID is the number in a stack's header line "goroutine 7 [...]".
func goroutineID(stack string) string {
	f := strings.Fields(stack)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

func goroutineIDs() map[string]bool {
	ids := map[string]bool{}
	for _, g := range goroutines() {
		ids[goroutineID(g)] = true
	}
	return ids
}
