package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/memory"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// parcel holds a slice, so a delivery shows whether it crossed the broker
// encoded or as it was; with Ratio NaN it does not encode as JSON.
type parcel struct {
	Items []string
	Ratio float64
}

// renamed and crate share parcel's category but are other types.
type (
	renamed struct{ Items []string }
	crate   struct{ Items []string }
)

// pair opens two brokers on one queue, so that two types can claim one
// category: one per broker, as in two programs. Tests of one type use the
// first alone.
func pair(t *testing.T, opts ...memory.Option) (emitter, listener swarm.Broker) {
	t.Helper()
	e, err := memory.New(t.Name(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	l, err := memory.New(t.Name(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(); _ = l.Close() })
	return e, l
}

func firstOf[T any](t *testing.T, deq <-chan swarm.Msg[T], ack chan<- swarm.Msg[T]) swarm.Msg[T] {
	t.Helper()
	select {
	case m := <-deq:
		ack <- m
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		panic("unreachable")
	}
}

func TestWithoutEncodingHandsValuesOver(t *testing.T) {
	q, _ := pair(t, memory.WithoutEncoding())
	enq, dlq := emit.Typed[parcel](q)
	deq, ack := listen.Typed[parcel](q)
	sent := parcel{Items: []string{"a", "b"}, Ratio: math.NaN()}
	enq <- sent
	got := firstOf(t, deq, ack).Object
	if !math.IsNaN(got.Ratio) || len(got.Items) != 2 || &got.Items[0] != &sent.Items[0] {
		t.Fatalf("got %+v, want the value sent, its slice shared", got)
	}
	select {
	case v := <-dlq:
		t.Fatalf("dead letter %+v: the value was encoded", v)
	default:
	}
}

func TestWithoutEncodingSyncWriterAndEvents(t *testing.T) {
	q, _ := pair(t, memory.WithoutEncoding())
	deq, ack := listen.Typed[parcel](q)
	sent := parcel{Items: []string{"x"}, Ratio: math.NaN()}
	if err := emit.NewTyped[parcel](q).Enq(context.Background(), sent); err != nil {
		t.Fatalf("Enq: %v", err)
	}
	if got := firstOf(t, deq, ack).Object; !math.IsNaN(got.Ratio) || &got.Items[0] != &sent.Items[0] {
		t.Fatalf("Enq delivered %+v, want the value sent", got)
	}

	events, _ := emit.Event[swarm.Meta, renamed](q)
	edeq, eack := listen.Event[swarm.Meta, renamed](q)
	data := &renamed{Items: []string{"y"}}
	events <- swarm.Event[swarm.Meta, renamed]{Data: data}
	e := firstOf(t, edeq, eack).Object
	if e.Data != data || e.Meta == nil || e.Meta.ID == "" || e.Meta.Type != "renamed" {
		t.Fatalf("event %+v (meta %+v), want the data pointer sent and the metadata filled", e, e.Meta)
	}
}

// A listener of another type, or of octets, gets what the emitter's codec
// makes of the value, as it would from a network broker.
func TestWithoutEncodingOtherListenersGetPayload(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen func(t *testing.T, q swarm.Broker) []string
	}{
		{"another type", func(t *testing.T, q swarm.Broker) []string {
			deq, ack := listen.Typed[renamed](q, swarm.Category("parcel"))
			return firstOf(t, deq, ack).Object.Items
		}},
		{"octets", func(t *testing.T, q swarm.Broker) []string {
			deq, ack := listen.Bytes(q, swarm.NewCodecBytes("parcel"))
			var r renamed
			if b := firstOf(t, deq, ack).Object; json.Unmarshal(b, &r) != nil {
				t.Fatalf("payload %q is not the JSON of the value", b)
			}
			return r.Items
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, l := pair(t, memory.WithoutEncoding())
			enq, _ := emit.Typed[crate](e, swarm.Category("parcel"))
			sent := crate{Items: []string{"a", "b"}}
			enq <- sent
			got := tc.listen(t, l)
			if len(got) != 2 || got[1] != "b" || &got[0] == &sent.Items[0] {
				t.Fatalf("got %v, want a decoded copy of %v", got, sent.Items)
			}
		})
	}
}

// A value of the listener's type that its codec cannot encode, read by a
// listener of another type: reported and dead-lettered, as an undecodable
// payload is, while the next message flows.
func TestWithoutEncodingUnencodableForOtherType(t *testing.T) {
	errs := make(chan error, 16)
	e, l := pair(t, memory.WithoutEncoding(), memory.WithKernel(swarm.WithStdErr(errs), swarm.WithPolicyAtLeastOnce(1)))
	enq, _ := emit.Typed[parcel](e)
	deq, ack := listen.Typed[renamed](l, swarm.Category("parcel"))
	enq <- parcel{Ratio: math.NaN()}
	enq <- parcel{Items: []string{"next"}}
	if got := firstOf(t, deq, ack).Object.Items; len(got) != 1 || got[0] != "next" {
		t.Fatalf("got %v, want the second message", got)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, swarm.ErrDecode) {
			t.Fatalf("reported %v, want ErrDecode", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the unencodable value was not reported")
	}
}

// Without the option the broker stays a faithful double of a network
// broker: the listener gets a decoded copy, and an unencodable value is a
// dead letter of the emitter.
func TestDefaultEncodes(t *testing.T) {
	q, _ := pair(t)
	enq, dlq := emit.Typed[parcel](q)
	deq, ack := listen.Typed[parcel](q)
	enq <- parcel{Ratio: math.NaN()}
	select {
	case <-dlq:
	case <-time.After(5 * time.Second):
		t.Fatal("an unencodable value was not dead-lettered")
	}
	sent := parcel{Items: []string{"a"}}
	enq <- sent
	if got := firstOf(t, deq, ack).Object; &got.Items[0] == &sent.Items[0] {
		t.Fatal("the listener shares the sender's slice: the value was not encoded")
	}
}

func ExampleWithoutEncoding() {
	type tick struct{ N int }
	q, err := memory.New("ticks", memory.WithoutEncoding())
	if err != nil {
		panic(err)
	}
	defer q.Close()
	enq, _ := emit.Typed[tick](q)
	deq, ack := listen.Typed[tick](q)
	enq <- tick{N: 1}
	msg := <-deq
	fmt.Println(msg.Object.N)
	ack <- msg
	// Output: 1
}

// The same Go type under another codec is not the same message: octets
// emitted as a JSON value reach an octet listener as their JSON.
func TestWithoutEncodingComparesCodecs(t *testing.T) {
	e, l := pair(t, memory.WithoutEncoding())
	enq, _ := emit.Typed[[]byte](e, swarm.Category("blob"))
	deq, ack := listen.Bytes(l, swarm.NewCodecBytes("blob"))
	enq <- []byte("hi")
	if got := string(firstOf(t, deq, ack).Object); got != `"aGk="` {
		t.Fatalf("octet listener got %q, want the JSON of the value", got)
	}
}
