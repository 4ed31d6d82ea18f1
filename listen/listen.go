// Package listen makes the channels an application receives messages on.
//
//	deq, ack := listen.Typed[Order](q)
//	for msg := range deq {
//		if err := handle(msg.Object); err != nil {
//			ack <- msg.Fail(err) // delivered again after the redelivery backoff
//			continue
//		}
//		ack <- msg
//	}
//
// deq is closed by the broker's Close, which ends the range loop. Under the
// default at-least-once policy every message must come back on ack, acked or
// failed; one that never does is delivered again when its lease runs out.
// Acks are batched by the kernel off the consumer's path.
//
// Registration panics on a programming error found at start-up: two types
// claiming one category on a broker, a second listener for a category, or a
// broker that cannot listen.
package listen

import (
	"context"
	"errors"
	"fmt"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// Typed returns the channel of messages of T (JSON payloads under the
// category of T: its type name, or swarm.Category) and the channel to ack
// them on.
func Typed[T any](q swarm.Broker, opts ...swarm.ChanOption) (<-chan swarm.Msg[T], chan<- swarm.Msg[T]) {
	cfg := swarm.NewChanConfig(opts)
	return channel(q, swarm.NewCodecJSON[T](cfg.Category), swarm.TypeKey[T]())
}

// Bytes returns the channel of octet-stream messages of the category the
// codec names, decoded by it, and the channel to ack them on.
func Bytes(q swarm.Broker, codec swarm.Codec[[]byte]) (<-chan swarm.Msg[[]byte], chan<- swarm.Msg[[]byte]) {
	return channel(q, codec, "[]byte:"+codec.Category())
}

// Event returns the channel of events with metadata M and data T (under the
// category of T) and the channel to ack them on.
func Event[M, T any](q swarm.Broker, opts ...swarm.ChanOption) (<-chan swarm.Msg[swarm.Event[M, T]], chan<- swarm.Msg[swarm.Event[M, T]]) {
	cfg := swarm.NewChanConfig(opts)
	return channel(q, swarm.NewCodecEvent[M, T](cfg.Category), "event:"+swarm.TypeKey[T]())
}

func channel[T any](q swarm.Broker, codec swarm.Codec[T], typ string) (<-chan swarm.Msg[T], chan<- swarm.Msg[T]) {
	k := q.Kernel()
	cfg := k.Config()
	deq := make(chan swarm.Msg[T], cfg.RecvCapacity)
	// AckCapacity also bounds the deliveries in flight, so every ack the
	// application can owe fits: a late ack never blocks.
	ack := make(chan swarm.Msg[T], cfg.AckCapacity)
	in, err := k.Listen(codec.Category(), typ)
	if err != nil {
		if errors.Is(err, kernel.ErrClosed) {
			close(deq)
			return deq, ack
		}
		panic(fmt.Sprintf("listen: %v", err))
	}
	in.Add()
	in.Add()
	go decode(in, codec, deq)
	caps := k.Capabilities()
	go settle(in, ack, max(caps.MaxBatch, 1)*max(caps.SettleConcurrency, 1))
	return deq, ack
}

// settle batches the acks of the application and settles them with the
// broker. At Close it settles what was sent before and stops.
func settle[T any](in *kernel.Inbox, ack <-chan swarm.Msg[T], limit int) {
	defer in.Done()
	closing := in.Kernel().Closing()
	limit = max(limit, 1)
	buf := make([]kernel.Settlement, 0, limit)
	add := func(m swarm.Msg[T]) { buf = append(buf, kernel.Settlement{Digest: m.Digest, Err: m.Err}) }
	flush := func() {
		if len(buf) > 0 {
			in.Settle(context.Background(), buf)
			clear(buf)
			buf = buf[:0]
		}
	}
	for {
		select {
		case m := <-ack:
			add(m)
		drain:
			for len(buf) < limit {
				select {
				case m := <-ack:
					add(m)
				default:
					break drain
				}
			}
			flush()
		case <-closing:
			for {
				select {
				case m := <-ack:
					add(m)
					if len(buf) == limit {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}
