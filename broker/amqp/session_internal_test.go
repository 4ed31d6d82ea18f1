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

// TestAckOutOfOrder acks deliveries in shuffled batches, some failed and
// some dead-lettered in between: the multiple acks must never cover a tag
// settled otherwise (the server would close the channel), and the queue
// must end empty.
func TestAckOutOfOrder(t *testing.T) {
	if c, err := net.DialTimeout("tcp", "127.0.0.1:5672", time.Second); err != nil {
		t.Skipf("skipped, unavailable here: RabbitMQ at 127.0.0.1:5672: %v", err)
	} else {
		c.Close()
	}
	c := defaultConfig()
	c.prefetch = 1000
	queue := fmt.Sprintf("swarm-amqp-ack-order-%d", time.Now().UnixNano())
	c.deadLetter = queue + ".dlq"
	targets, err := c.parseTargets()
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(c, targets, queue)
	if err := d.start(); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t.Cleanup(func() {
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
	const n = 600
	batch := make([]kernel.Envelope, n)
	for i := range batch {
		batch[i] = kernel.Envelope{Category: "c", ID: fmt.Sprint(i), Payload: []byte("x")}
	}
	for i := 0; i < n; i += 200 {
		if errs := d.Send(ctx, batch[i:i+200]); errs != nil {
			t.Fatalf("send: %v", summary(errs))
		}
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
	s := d.cons
	rand.Shuffle(len(handles), func(i, j int) { handles[i], handles[j] = handles[j], handles[i] })
	dead := 0
	for len(handles) > 0 {
		k := min(len(handles), 1+rand.IntN(40))
		part := handles[:k]
		handles = handles[k:]
		switch rand.IntN(5) {
		case 0:
			err = d.DeadLetter(ctx, part)
			dead += len(part)
		default:
			err = d.Ack(ctx, part)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.isDead() {
		t.Fatal("the consumer channel was closed by a settlement")
	}
	if len(s.out) != 0 {
		t.Errorf("%d tags still outstanding", len(s.out))
	}
	ch, err := d.pubs.link.Load().conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	// Dead-lettering is asynchronous on the server: poll.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var got [2]int
		for i, q := range []string{queue, queue + ".dlq"} {
			info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = info.Messages
		}
		if got == [2]int{0, dead} {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue and dead-letter queue hold %v messages, want [0 %d]", got, dead)
		}
	}
}
