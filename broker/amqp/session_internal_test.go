package amqp

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// TestAckOutOfOrder acks deliveries in shuffled batches, some failed and
// some dead-lettered in between: the multiple acks must never cover a tag
// settled otherwise (the server would close the channel), and the queue
// must end empty.
func TestAckOutOfOrder(t *testing.T) {
	d, handles := ackDriver(t, 600)
	ctx := context.Background()
	var err error
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
		for i, q := range []string{d.queue, d.queue + ".dlq"} {
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
