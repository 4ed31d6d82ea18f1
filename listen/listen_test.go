package listen_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/internal/fake"
	"github.com/swarm-go/swarm/kernel"
	"github.com/swarm-go/swarm/listen"
)

type Order struct{ ID int }

// A large batch is decoded on several goroutines, yet the messages arrive
// in the order of the batch, and a payload that does not decode is
// rejected without disturbing its neighbours.
func TestLargeBatchKeepsOrder(t *testing.T) {
	const n = 1000
	batch := make([]kernel.Envelope, n)
	for i := range batch {
		p := `{"ID":` + strconv.Itoa(i) + `}`
		if i == 500 {
			p = `{"ID":"not a number"}`
		}
		batch[i] = kernel.Envelope{Category: "Order", ID: strconv.Itoa(i), Payload: []byte(p), Attempt: 1, Handle: i}
	}
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: n, Redelivery: true}}
	d.Script(batch)
	errs := make(chan error, 10)
	cfg, err := kernel.NewConfig(swarm.WithAckCapacity(n), swarm.WithRecvCapacity(n), swarm.WithStdErr(errs))
	if err != nil {
		t.Fatal(err)
	}
	k := kernel.New(cfg, "fake://q", d)
	defer k.Close()
	deq, ack := listen.Typed[Order](k)
	want := 0
	for range n - 1 {
		select {
		case m := <-deq:
			if want == 500 {
				want++ // the broken one
			}
			if m.Object.ID != want {
				t.Fatalf("got order %d, want %d: the batch's order was lost", m.Object.ID, want)
			}
			want++
			ack <- m
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d messages arrived", want, n-1)
		}
	}
	select {
	case err := <-errs:
		var e *kernel.Error
		if !errors.Is(err, swarm.ErrDecode) || !errors.As(err, &e) || e.ID != "500" {
			t.Errorf("reported %v, want a decode error for message 500", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the broken payload was not reported")
	}
}
