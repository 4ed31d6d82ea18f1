package swarm_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/memory"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

type Invoice struct {
	Number string  `json:"number"`
	Total  float64 `json:"total"`
}

// Typed channels over the in-process broker.
func Example() {
	q, _ := memory.New("example-typed")
	defer q.Close()

	enq := swarm.LogDeadLetters(emit.Typed[Invoice](q))
	deq, ack := listen.Typed[Invoice](q)

	enq <- Invoice{Number: "INV-1", Total: 42}
	msg := <-deq
	ack <- msg
	fmt.Println(msg.Category(), msg.Object.Number, msg.Object.Total, msg.Attempt())
	// Output: Invoice INV-1 42 1
}

// Events carry CloudEvents metadata beside the data; blank fields are filled
// on emit.
func Example_events() {
	q, _ := memory.New("example-events")
	defer q.Close()

	enq, _ := emit.Event[swarm.Meta, Invoice](q)
	deq, ack := listen.Event[swarm.Meta, Invoice](q)

	enq <- swarm.Event[swarm.Meta, Invoice]{
		Meta: &swarm.Meta{Source: "/billing", CorrelationID: "order-7"},
		Data: &Invoice{Number: "INV-2", Total: 10},
	}
	msg := <-deq
	ack <- msg
	e := msg.Object
	fmt.Println(e.Meta.Type, e.Meta.Source, e.Meta.CorrelationID, e.Meta.ID != "", e.Data.Number)
	// Output: Invoice /billing order-7 true INV-2
}

// Octet streams travel as they are; the codec names their category.
func Example_bytes() {
	q, _ := memory.New("example-bytes")
	defer q.Close()

	codec := swarm.NewCodecBytes("thumbnail")
	enq, _ := emit.Bytes(q, codec)
	deq, ack := listen.Bytes(q, codec)

	enq <- []byte{0x89, 'P', 'N', 'G'}
	msg := <-deq
	ack <- msg
	fmt.Printf("%s %x\n", msg.Category(), msg.Object)
	// Output: thumbnail 89504e47
}

// A failed message comes back promptly with its attempt count; after the
// configured attempts it is dead-lettered.
func Example_failFast() {
	q, _ := memory.New("example-fail", memory.WithKernel(
		swarm.WithRedelivery(swarm.ConstantBackoff(10*time.Millisecond, 3)),
	))
	defer q.Close()

	enq, _ := emit.Typed[Invoice](q)
	deq, ack := listen.Typed[Invoice](q)

	enq <- Invoice{Number: "INV-3"}
	for msg := range deq {
		if msg.Attempt() < 2 {
			fmt.Println("attempt", msg.Attempt(), "failed")
			ack <- msg.Fail(errors.New("payment service unavailable"))
			continue
		}
		fmt.Println("attempt", msg.Attempt(), "done")
		ack <- msg
		break
	}
	// Output:
	// attempt 1 failed
	// attempt 2 done
}

// The synchronous emitter returns once the broker accepted the value.
func Example_syncEmitter() {
	q, _ := memory.New("example-sync")
	defer q.Close()

	w := emit.NewTyped[Invoice](q)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := w.Enq(ctx, Invoice{Number: "INV-4"})
	fmt.Println("accepted:", err == nil)

	q.Close()
	fmt.Println("after Close:", errors.Is(w.Enq(ctx, Invoice{}), swarm.ErrClosed))
	// Output:
	// accepted: true
	// after Close: true
}

// Open picks the broker from configuration: importing a broker package
// registers its URL scheme.
func ExampleOpen() {
	q, err := swarm.Open("mem://example-open", swarm.WithConfigFromEnv())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	fmt.Println(q.Kernel().Queue())
	// Output: mem://example-open
}
