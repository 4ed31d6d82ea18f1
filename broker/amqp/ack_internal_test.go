package amqp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/swarm-go/swarm/kernel"
)

// ackDriver opens a driver on a fresh queue of the local RabbitMQ, sends it
// n messages and receives them all; it returns the driver and the handles.
func ackDriver(t *testing.T, n int) (*driver, []any) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:5672", time.Second); err != nil {
		t.Skipf("skipped, unavailable here: RabbitMQ at 127.0.0.1:5672: %v", err)
	} else {
		c.Close()
	}
	c := defaultConfig()
	c.prefetch = 1024
	queue := fmt.Sprintf("swarm-amqp-ack-%d", time.Now().UnixNano())
	c.deadLetter = queue + ".dlq"
	targets, err := c.parseTargets()
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(c, targets, queue)
	if err := d.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.Close()
		conn, err := amqp091.Dial(DefaultURL)
		if err != nil {
			return
		}
		defer conn.Close()
		ch, _ := conn.Channel()
		for _, q := range []string{queue, queue + ".dlq"} {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
	})
	ctx := context.Background()
	batch := make([]kernel.Envelope, n)
	for i := range batch {
		batch[i] = kernel.Envelope{Category: "c", ID: fmt.Sprint(i), Payload: []byte("x")}
	}
	if errs := d.Send(ctx, batch); errs != nil {
		t.Fatalf("send: %v", summary(errs))
	}
	var handles []any
	for len(handles) < n {
		envs, err := d.Receive(ctx, 256)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range envs {
			handles = append(handles, e.Handle)
		}
	}
	return d, handles
}

// waitReady polls the number of messages ready in d's queue until it is
// want, failing after a few seconds.
func waitReady(t *testing.T, d *driver, want int) {
	t.Helper()
	conn, err := amqp091.Dial(DefaultURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	got := -1
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		info, err := ch.QueueDeclarePassive(d.queue, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got = info.Messages; got == want {
			return
		}
	}
	t.Fatalf("queue holds %d ready messages, want %d", got, want)
}

// frames returns the ack frames s wrote and how many of its flushes the
// timer made.
func frames(s *session) (written, timed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ackFrames, s.timerFlushes
}

// TestAcksShareFrames acks deliveries one call at a time, as the kernel does
// when the application acks as it goes: a multiple ack covers many of them
// rather than a frame each.
func TestAcksShareFrames(t *testing.T) {
	const n = 600
	d, handles := ackDriver(t, n)
	s := d.cons
	for _, h := range handles {
		if err := d.Ack(context.Background(), []any{h}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	// A pause of the loop longer than ackDelay (the race detector, a busy
	// host) lets the timer write a frame early; each such flush may add one.
	got, timed := frames(s)
	if most := n/maxAckBatch + 1 + timed; got > most {
		t.Errorf("%d acks took %d frames (%d flushed by the timer), want at most %d", n, got, timed, most)
	}
	if got > n/8 {
		t.Errorf("%d acks took %d frames, want at most %d: acks are not sharing frames", n, got, n/8)
	}
	s.kill() // unacked deliveries would go back to the queue
	waitReady(t, d, 0)
}

// TestPendingAcksWritten checks that acks short of a batch are written by
// the timer, and by Close, before the channel goes: else the server would
// redeliver messages the application acked.
func TestPendingAcksWritten(t *testing.T) {
	t.Run("timer", func(t *testing.T) {
		d, handles := ackDriver(t, 10)
		s := d.cons
		if err := d.Ack(context.Background(), handles); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * ackDelay)
		s.kill()
		waitReady(t, d, 0)
	})
	t.Run("close", func(t *testing.T) {
		d, handles := ackDriver(t, 10)
		if err := d.Ack(context.Background(), handles); err != nil {
			t.Fatal(err)
		}
		_ = d.Close()
		waitReady(t, d, 0)
	})
}

// TestMultipleAckSparesHeld holds some deliveries (the oldest among them)
// while the rest are acked in shuffled calls: the multiple acks must not
// cover a held one, which the server gives back when the channel closes.
func TestMultipleAckSparesHeld(t *testing.T) {
	const n, held = 400, 25
	d, handles := ackDriver(t, n)
	s := d.cons
	rest := append([]any(nil), handles[1:]...)
	rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	rest = rest[held-1:] // handles[0] and held-1 others are never settled
	for len(rest) > 0 {
		k := min(len(rest), 1+rand.IntN(8))
		if err := d.Ack(context.Background(), rest[:k]); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	if s.isDead() {
		t.Fatal("the consumer channel was closed by a settlement")
	}
	s.kill()
	waitReady(t, d, held)
}
