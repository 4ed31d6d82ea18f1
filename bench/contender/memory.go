// Package contender holds the implementations the benchmark compares, one
// file per broker: the raw client used as its docs recommend, swarm, and
// Watermill.
package contender

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/bench/workload"
	"github.com/swarm-go/swarm/broker/memory"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

func init() {
	// The in-process broker twice, both against the same bare channel and
	// GoChannel: by default, the test double of the network brokers, which
	// encodes every value as they do and is held to their target (ahead of
	// Watermill); and as the event bus GoChannel is, which skips the codec
	// and is held to 3x GoChannel. By default both sides run encoding/json
	// on every message, which bounds the ratio below 3x for any library:
	// the bare channel itself, carrying the same JSON, runs at 1.4-1.6x of
	// GoChannel on the 1 KiB rows (BENCHMARKS.md).
	for _, g := range []struct {
		name   string
		opts   []memory.Option
		target float64
	}{
		{"memory", nil, 1},
		{"memory WithoutEncoding", []memory.Option{memory.WithoutEncoding()}, 3},
	} {
		register(func(n int) Broker {
			return Broker{Name: g.name, Order: 0, Raw: MemoryRaw(n), Swarm: MemorySwarm(n, g.opts...),
				Watermill: MemoryWatermill(), WatermillTarget: g.target}
		})
	}
}

// MemoryRaw is the in-process baseline: a buffered channel of encoded
// messages, encoding/json on both sides.
func MemoryRaw(n int) workload.Factory {
	return func(string) (workload.Contender, error) {
		return &chanRaw{wire: make(chan []byte, n)}, nil
	}
}

type chanRaw struct{ wire chan []byte }

func (c *chanRaw) Publish(_ context.Context, n int, msg func(int) workload.Payload) error {
	for i := range n {
		c.wire <- workload.Encode(msg(i))
	}
	return nil
}

func (c *chanRaw) Consume(_ context.Context, n int, got func(workload.Payload)) error {
	for range n {
		p, err := workload.Decode(<-c.wire)
		if err != nil {
			return err
		}
		got(p)
	}
	return nil
}

func (c *chanRaw) Close() error { return nil }

// MemorySwarm is swarm's in-process broker through typed channels, opened
// with opts.
func MemorySwarm(n int, opts ...memory.Option) workload.Factory {
	return func(queue string) (workload.Contender, error) {
		q, err := memory.New(queue, append(opts, memory.WithQueueCapacity(n+1))...)
		if err != nil {
			return nil, err
		}
		return NewSwarm(q), nil
	}
}

// Swarm drives any swarm broker: typed emit, typed listen with acks.
type Swarm struct {
	q   swarm.Broker
	enq chan<- workload.Payload
}

// NewSwarm wraps q; the listener is registered at the first Consume so that
// publish-then-consume runs really are sequential.
func NewSwarm(q swarm.Broker) *Swarm {
	enq, _ := emit.Typed[workload.Payload](q)
	return &Swarm{q: q, enq: enq}
}

func (s *Swarm) Publish(ctx context.Context, n int, msg func(int) workload.Payload) error {
	for i := range n {
		if err := send(ctx, s.enq, msg(i)); err != nil {
			return err
		}
	}
	// The channel is asynchronous: wait until the broker accepted it all.
	return s.q.Kernel().Flush(ctx)
}

func (s *Swarm) Consume(ctx context.Context, n int, got func(workload.Payload)) error {
	deq, ack := listen.Typed[workload.Payload](s.q)
	for range n {
		m, ok, err := receive(ctx, deq)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("listen channel closed")
		}
		got(m.Object)
		ack <- m
	}
	return nil
}

func (s *Swarm) Close() error { return s.q.Close() }

// MemoryWatermill is Watermill's GoChannel pub/sub, persistent so that
// messages published before the subscription are kept.
func MemoryWatermill() workload.Factory {
	return func(queue string) (workload.Contender, error) {
		ps := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024, Persistent: true}, watermill.NopLogger{})
		return &Watermill{pub: ps, sub: ps, topic: queue}, nil
	}
}

// Watermill drives any Watermill publisher and subscriber.
type Watermill struct {
	pub   message.Publisher
	sub   message.Subscriber
	topic string
}

// watermillBatch is how many messages one Publish call carries (Watermill's
// Publish is variadic).
const watermillBatch = 100

func (w *Watermill) Publish(_ context.Context, n int, msg func(int) workload.Payload) error {
	batch := make([]*message.Message, 0, watermillBatch)
	for i := range n {
		batch = append(batch, message.NewMessage(watermill.NewUUID(), workload.Encode(msg(i))))
		if len(batch) == watermillBatch || i == n-1 {
			if err := w.pub.Publish(w.topic, batch...); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

func (w *Watermill) Consume(ctx context.Context, n int, got func(workload.Payload)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := w.sub.Subscribe(ctx, w.topic)
	if err != nil {
		return err
	}
	for range n {
		m, _, err := receive(ctx, ch)
		if err != nil {
			return err
		}
		if m == nil {
			return fmt.Errorf("watermill subscription closed")
		}
		p, err := workload.Decode(m.Payload)
		if err != nil {
			return err
		}
		got(p)
		m.Ack()
	}
	return nil
}

func (w *Watermill) Close() error {
	_ = w.pub.Close()
	return w.sub.Close()
}
