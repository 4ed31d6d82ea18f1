package mqtt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/mqtt"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

// TestPipelinedPublishKeepsOrder: publishes are written without waiting
// for each PUBACK (many batches in flight, up to the server's Receive
// Maximum, unlimited on this server), and a listener still gets them in
// the order emitted, both the ones queued before it listens and the ones
// emitted while it does. It acks each delivery at once, so the acks flow
// while the server keeps sending.
func TestPipelinedPublishKeepsOrder(t *testing.T) {
	srv := startPrivateServer(t, false)
	q, err := mqtt.New("order-test", mqtt.WithServers("mqtt://"+srv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const before, during = 10_000, 10_000
	enq, dlq := emit.Typed[int](q)
	go func() {
		for m := range dlq {
			t.Errorf("message %d dead-lettered", m)
		}
	}()
	for i := range before {
		enq <- i
	}
	if err := q.Kernel().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	deq, ack := listen.Typed[int](q)
	go emitRange(ctx, enq, before, before+during)
	receiveInOrder(ctx, t, deq, ack, before+during)
}

// emitRange sends lo, lo+1, ..., hi-1 on enq until ctx is done.
func emitRange(ctx context.Context, enq chan<- int, lo, hi int) {
	for i := lo; i < hi; i++ {
		select {
		case enq <- i:
		case <-ctx.Done():
			return
		}
	}
}

// receiveInOrder receives and acks 0, 1, ..., n-1, failing the test on any
// other order or when ctx ends first.
func receiveInOrder(ctx context.Context, t *testing.T, deq <-chan swarm.Msg[int], ack chan<- swarm.Msg[int], n int) {
	t.Helper()
	for want := 0; want < n; want++ {
		select {
		case m := <-deq:
			if m.Object != want {
				t.Fatalf("received %d, want %d: the order emitted was not kept", m.Object, want)
			}
			ack <- m
		case <-ctx.Done():
			t.Fatalf("received %d of %d messages before the deadline", want, n)
		}
	}
}

// TestPipelinedPublishInASmallWindow: on the shared server (Mosquitto's
// default max_inflight_messages, 20, is its Receive Maximum) a batch of up
// to 256 messages does not fit the window: the sender writes what it holds
// before it waits for a slot, so the batch goes out in pieces, in order,
// and nothing waits for the publish timeout.
func TestPipelinedPublishInASmallWindow(t *testing.T) {
	swarmtest.RequireTCP(t, "mosquitto", sharedAddr)
	q, err := mqtt.New(fmt.Sprintf("small-window-%d", time.Now().UnixNano()),
		testOpts(sharedAddr, swarm.WithRetry(swarm.ConstantBackoff(time.Millisecond, 1)))...)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 3000
	deq, ack := listen.Typed[int](q)
	enq, dlq := emit.Typed[int](q)
	go func() {
		for m := range dlq {
			t.Errorf("message %d dead-lettered", m)
		}
	}()
	go emitRange(ctx, enq, 0, n)
	receiveInOrder(ctx, t, deq, ack, n)
}
