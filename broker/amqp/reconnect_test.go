package amqp_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/amqp"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/kernel"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

// testQueue names a queue for one test and deletes it at the end.
func testQueue(t *testing.T) string {
	swarmtest.RequireTCP(t, "RabbitMQ", "127.0.0.1:5672")
	q := "swarm-amqp-" + t.Name() + "-" + time.Now().Format("150405.000000")
	t.Cleanup(func() { deleteQueues(t, sharedURL, q) })
	return q
}

// TestReconnectAfterConnectionLoss cuts the TCP connection under a broker
// (through WithConnection) while it emits and listens: it reconnects and
// every message arrives.
func TestReconnectAfterConnectionLoss(t *testing.T) {
	queue := testQueue(t)
	var mu sync.Mutex
	var raws []net.Conn
	dials := 0
	dial := func(ctx context.Context) (*amqp091.Connection, error) {
		mu.Lock()
		dials++
		mu.Unlock()
		return amqp091.DialConfig(sharedURL, amqp091.Config{Dial: func(network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				mu.Lock()
				raws = append(raws, c)
				mu.Unlock()
			}
			return c, err
		}})
	}
	cut := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range raws {
			_ = c.Close()
		}
		raws = nil
	}
	b, err := amqp.New(queue, amqp.WithConnection(dial), amqp.WithReconnectBackoff(10*time.Millisecond, 200*time.Millisecond),
		amqp.WithKernel(swarm.WithRetry(swarm.ExponentialBackoff(20*time.Millisecond, time.Second, 40))))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	enq, dlq := emit.Typed[swarmtest.Note](b)
	deq, ack := listen.Typed[swarmtest.Note](b)
	const n = 3000
	go func() {
		for i := range n {
			enq <- swarmtest.Note{Seq: i}
		}
	}()
	seen := map[int]bool{}
	timeout := time.After(60 * time.Second)
	for len(seen) < n {
		select {
		case m := <-deq:
			seen[m.Object.Seq] = true
			ack <- m
			if len(seen) == n/3 || len(seen) == 2*n/3 {
				cut()
			}
		case v := <-dlq:
			t.Fatalf("message %d dead-lettered by the emitter", v.Seq)
		case <-timeout:
			t.Fatalf("%d of %d arrived", len(seen), n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if dials < 3 {
		t.Errorf("%d dials, want 3 or more (two reconnects)", dials)
	}
}

// TestDelayedRedelivery: a failed message comes back after the redelivery
// backoff (through a delay queue), not at once; without delay queues it
// comes back at once.
func TestDelayedRedelivery(t *testing.T) {
	for _, delayed := range []bool{true, false} {
		queue := testQueue(t)
		b, err := amqp.New(queue, amqp.WithDelayQueues(delayed),
			amqp.WithKernel(swarm.WithRedelivery(swarm.ConstantBackoff(time.Second, 5))))
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Kernel().Capabilities().Delay; got != delayed {
			t.Errorf("Capabilities().Delay = %v with WithDelayQueues(%v)", got, delayed)
		}
		enq, _ := emit.Typed[swarmtest.Note](b)
		deq, ack := listen.Typed[swarmtest.Note](b)
		enq <- swarmtest.Note{Seq: 1}
		m := <-deq
		failed := time.Now()
		ack <- m.Fail(nil)
		select {
		case m2 := <-deq:
			waited := time.Since(failed)
			ack <- m2
			if m2.Attempt() != 2 {
				t.Errorf("attempt %d, want 2", m2.Attempt())
			}
			// Without delay queues the kernel holds the message for the
			// backoff itself, then requeues it.
			if waited < time.Second {
				t.Errorf("redelivered after %v (delay queues %v), want the 1s backoff", waited, delayed)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("not redelivered")
		}
		b.Close()
	}
}

// TestQuorumQueue: with x-queue-type quorum the attempt count includes the
// server's x-delivery-count and dead letters still reach the dead-letter
// queue.
func TestQuorumQueue(t *testing.T) {
	queue := testQueue(t)
	opts := []amqp.Option{amqp.WithQueueArgs(map[string]any{"x-queue-type": "quorum"}),
		amqp.WithKernel(swarm.WithRedelivery(swarm.ConstantBackoff(10*time.Millisecond, 2)))}
	b, err := amqp.New(queue, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	enq, _ := emit.Typed[swarmtest.Note](b)
	deq, ack := listen.Typed[swarmtest.Note](b)
	enq <- swarmtest.Note{Seq: 7}
	for want := 1; want <= 2; want++ {
		select {
		case m := <-deq:
			if m.Attempt() != want {
				t.Errorf("attempt %d, want %d", m.Attempt(), want)
			}
			ack <- m.Fail(nil)
		case <-time.After(10 * time.Second):
			t.Fatalf("delivery %d missing", want)
		}
	}
	dl, err := amqp.New(queue+".dlq", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	deqDL, ackDL := listen.Typed[swarmtest.Note](dl)
	select {
	case m := <-deqDL:
		ackDL <- m
		if m.Object.Seq != 7 || m.Category() != "Note" {
			t.Errorf("dead letter %+v category %q", m.Object, m.Category())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no dead letter")
	}
}

// TestReservedAttribute: an attribute in the broker's header namespace is
// refused for good, not retried.
func TestReservedAttribute(t *testing.T) {
	queue := testQueue(t)
	b, err := amqp.New(queue)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e, err := b.Kernel().Emitter("attrs", "[]byte:attrs", false)
	if err != nil {
		t.Fatal(err)
	}
	bad, good := e.Envelope([]byte("x")), e.Envelope([]byte("y"))
	bad.Attrs = map[string]string{"x-swarm-attempts": "9"}
	errs := e.Send(context.Background(), []kernel.Envelope{bad, good})
	if len(errs) != 2 || !kernel.IsPermanent(errs[0]) || errs[1] != nil {
		t.Fatalf("Send = %v, want a permanent error for the first only", errs)
	}
}

// TestQueueDeletedUnderBroker: a queue deleted while the broker runs is
// declared again; a message published meanwhile is returned by the server,
// retried, and arrives, instead of vanishing.
func TestQueueDeletedUnderBroker(t *testing.T) {
	queue := testQueue(t)
	retry := amqp.WithKernel(swarm.WithRetry(swarm.ConstantBackoff(20*time.Millisecond, 5)))
	producer, err := amqp.New(queue, retry)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	w := emit.NewTyped[swarmtest.Note](producer)
	for seq := 1; seq <= 2; seq++ {
		if seq == 2 {
			deleteQueues(t, sharedURL, queue)
		}
		if err := w.Enq(context.Background(), swarmtest.Note{Seq: seq}); err != nil {
			t.Fatalf("Enq %d: %v", seq, err)
		}
	}
	consumer, err := amqp.New(queue, retry)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	deq, ack := listen.Typed[swarmtest.Note](consumer)
	select {
	case m := <-deq:
		ack <- m
		if m.Object.Seq != 2 {
			t.Fatalf("got %+v, want seq 2 (seq 1 was deleted with the queue)", m.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the message published while the queue was gone never arrived")
	}

	// A consumer whose queue is deleted declares it again and goes on.
	deleteQueues(t, sharedURL, queue)
	if err := w.Enq(context.Background(), swarmtest.Note{Seq: 3}); err != nil {
		t.Fatalf("Enq 3: %v", err)
	}
	select {
	case m := <-deq:
		ack <- m
		if m.Object.Seq != 3 {
			t.Fatalf("got %+v, want seq 3", m.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer did not recover from its queue's deletion")
	}
}

// TestForeignQueue: a queue that exists with other arguments (here none, so
// no dead-letter exchange) is used as it is, and its dead letters are
// republished to the dead-letter queue rather than dropped by a reject.
func TestForeignQueue(t *testing.T) {
	queue := testQueue(t)
	conn, err := amqp091.Dial(sharedURL)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err == nil {
		_, err = ch.QueueDeclare(queue, true, false, false, false, nil)
	}
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, err := amqp.New(queue, amqp.WithKernel(swarm.WithRedelivery(swarm.ConstantBackoff(10*time.Millisecond, 1))))
	if err != nil {
		t.Fatalf("New on an existing queue with other arguments: %v", err)
	}
	defer b.Close()
	enq, _ := emit.Typed[swarmtest.Note](b)
	deq, ack := listen.Typed[swarmtest.Note](b)
	enq <- swarmtest.Note{Seq: 11}
	ack <- (<-deq).Fail(nil)
	dl, err := amqp.New(queue + ".dlq")
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	deqDL, ackDL := listen.Typed[swarmtest.Note](dl)
	select {
	case m := <-deqDL:
		ackDL <- m
		if m.Object.Seq != 11 {
			t.Errorf("dead letter %+v", m.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dead letter of a foreign queue was lost")
	}
}
