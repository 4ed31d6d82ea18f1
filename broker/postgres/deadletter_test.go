package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/postgres"
	"github.com/swarm-go/swarm/kernel"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

// TestDeadLetterAttrs: a dead letter keeps its category, id and attributes,
// and gains where it came from, after how many attempts, and when.
func TestDeadLetterAttrs(t *testing.T) {
	swarmtest.RequireTCP(t, "PostgreSQL", sharedAddr)
	queue := freshQueue()
	q, err := openShared(t, queue, swarm.WithRedelivery(swarm.ConstantBackoff(10*time.Millisecond, 2)),
		swarm.WithStdErr(make(chan error, 16)))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	codec := swarm.NewCodecBytes("blob")
	deq, ack := listen.Bytes(q, codec)
	e, err := q.Kernel().Emitter("blob", "[]byte:blob", false)
	if err != nil {
		t.Fatal(err)
	}
	env := e.Envelope([]byte{0, 1, 2})
	env.Attrs = map[string]string{"tenant": "acme"}
	if errs := e.Send(context.Background(), []kernel.Envelope{env}); errs != nil {
		t.Fatal(errs[0])
	}
	for range 2 {
		select {
		case m := <-deq:
			ack <- m.Fail(errors.New("no"))
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery")
		}
	}
	dl, err := openShared(t, queue+".dlq")
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	deqDL, ackDL := listen.Bytes(dl, codec)
	select {
	case m := <-deqDL:
		attrs := m.Attrs()
		if m.ID() != env.ID || m.Category() != "blob" || string(m.Object) != "\x00\x01\x02" || attrs["tenant"] != "acme" ||
			attrs[postgres.AttrDeadLetterFrom] != queue || attrs[postgres.AttrDeadLetterAttempts] != "2" {
			t.Errorf("dead letter id %q category %q payload %x attrs %v", m.ID(), m.Category(), m.Object, attrs)
		}
		if at, err := time.Parse(time.RFC3339Nano, attrs[postgres.AttrDeadLetterAt]); err != nil || time.Since(at) > time.Minute {
			t.Errorf("dead-letter time %q: %v", attrs[postgres.AttrDeadLetterAt], err)
		}
		ackDL <- m
	case <-time.After(10 * time.Second):
		t.Fatal("no dead letter")
	}
}
