package memory

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/swarm-go/swarm/kernel"
)

func batchOf(payloads ...string) []kernel.Envelope {
	envs := make([]kernel.Envelope, len(payloads))
	for i, p := range payloads {
		envs[i] = kernel.Envelope{Category: "c", ID: p, Payload: []byte(p)}
	}
	return envs
}

func payloads(envs []kernel.Envelope) string {
	var s []string
	for _, env := range envs {
		s = append(s, string(env.Payload))
	}
	return strings.Join(s, " ")
}

func handles(envs []kernel.Envelope) []any {
	hs := make([]any, len(envs))
	for i, env := range envs {
		hs[i] = env.Handle
	}
	return hs
}

// Messages come out in the order put, across batches; expired leases come
// back first, in the order they were taken, with their attempt counted;
// failed ones go back to the front; the count of messages held follows.
func TestQueueOrder(t *testing.T) {
	q := &queue{name: "t", capacity: 100, wake: make(chan struct{}), space: make(chan struct{})}
	ctx := context.Background()
	for _, b := range [][]kernel.Envelope{batchOf("a", "b", "c"), batchOf("d", "e"), batchOf("f")} {
		if _, err := q.put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	const lease = 20 * time.Millisecond
	first := q.take(ctx, 3, lease, 0)
	second := q.take(ctx, 1, time.Hour, 0)
	if got := payloads(first) + " " + payloads(second); got != "a b c d" {
		t.Fatalf("took %q", got)
	}
	q.settle([]any{first[1].Handle}, func(*item) {}, nil) // ack b
	q.release([]any{second[0].Handle}, 0)                 // fail d
	if n := q.size(); n != 5 {
		t.Fatalf("size %d, want 5 (a, c in flight, d, e, f)", n)
	}
	time.Sleep(2 * lease)
	again := q.take(ctx, 10, time.Hour, time.Second)
	if got := payloads(again); got != "a c d e f" {
		t.Fatalf("after the lease ran out took %q, want a c d e f", got)
	}
	for i, want := range []int{2, 2, 2, 1, 1} {
		if again[i].Attempt != want {
			t.Errorf("%s: attempt %d, want %d", again[i].Payload, again[i].Attempt, want)
		}
	}
	q.settle(handles(again), func(*item) {}, nil)
	q.settle(handles(first[:1]), func(*item) {}, nil) // stale: a was redelivered
	if n := q.size(); n != 0 {
		t.Fatalf("size %d after every ack, want 0", n)
	}
}

// A batch larger than the room left is stored up to the capacity; the
// rest waits for room, and is not stored when ctx ends first.
func TestQueueCapacity(t *testing.T) {
	q := &queue{name: "t", capacity: 3, wake: make(chan struct{}), space: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	n, err := q.put(ctx, batchOf("a", "b", "c", "d", "e"))
	if n != 3 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stored %d (%v), want 3 and the context's error", n, err)
	}
	if s := q.size(); s != 3 {
		t.Fatalf("size %d, want 3", s)
	}
	got := q.take(context.Background(), 10, time.Hour, 0)
	if payloads(got) != "a b c" {
		t.Fatalf("took %q", payloads(got))
	}
}

// A queue that is never empty does not keep what it held before: its
// ready list stays as long as its backlog.
func TestQueueNeverEmpty(t *testing.T) {
	q := &queue{name: "t", capacity: 100, wake: make(chan struct{}), space: make(chan struct{})}
	ctx := context.Background()
	if _, err := q.put(ctx, batchOf("first")); err != nil {
		t.Fatal(err)
	}
	for range 10000 {
		if _, err := q.put(ctx, batchOf("next")); err != nil {
			t.Fatal(err)
		}
		q.settle(handles(q.take(ctx, 1, time.Hour, 0)), func(*item) {}, nil)
	}
	if n := cap(q.ready.runs); n > 16 {
		t.Fatalf("ready list has room for %d runs with one message held", n)
	}
}
