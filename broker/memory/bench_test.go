package memory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/memory"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// order is a small JSON struct (about 100 bytes encoded).
type order struct {
	ID       string    `json:"id"`
	Customer string    `json:"customer"`
	Amount   float64   `json:"amount"`
	Items    int       `json:"items"`
	Created  time.Time `json:"created"`
}

func sample(i int) order {
	return order{ID: fmt.Sprintf("order-%08d", i), Customer: "customer-42", Amount: 99.5, Items: 3,
		Created: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
}

// BenchmarkEmitListenAck measures emit -> listen -> ack of a small JSON struct
// through the memory broker: the library's whole path.
func BenchmarkEmitListenAck(b *testing.B) {
	q, err := memory.New(fmt.Sprintf("bench-%d", b.N))
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	enq, _ := emit.Typed[order](q)
	deq, ack := listen.Typed[order](q)
	v := sample(1)
	b.ReportAllocs()
	resetTimer(b)
	go func() {
		for range b.N {
			enq <- v
		}
	}()
	for range b.N {
		msg := <-deq
		ack <- msg
	}
	b.StopTimer()
	report(b)
}

// BenchmarkBaselineChannels does the same work with bare channels and
// encoding/json: encode, hand over, decode, acknowledge.
func BenchmarkBaselineChannels(b *testing.B) {
	wire := make(chan []byte, 256)
	acks := make(chan order, 256)
	done := make(chan struct{})
	go func() { // the "broker" side settles acks
		for range b.N {
			<-acks
		}
		close(done)
	}()
	v := sample(1)
	b.ReportAllocs()
	resetTimer(b)
	go func() {
		for range b.N {
			p, err := json.Marshal(v)
			if err != nil {
				panic(err)
			}
			wire <- p
		}
	}()
	for range b.N {
		var o order
		if err := json.Unmarshal(<-wire, &o); err != nil {
			b.Fatal(err)
		}
		acks <- o
	}
	<-done
	b.StopTimer()
	report(b)
}

// report adds the message rate and the process's CPU time per message
// (user and system, every goroutine's, the GC's included): on a shared
// machine it is steadier than the wall-clock time.
func report(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpuTime()-cpuStart)/float64(b.N), "cpu-ns/msg")
}

// cpuStart is the process's CPU time when the timer was last reset.
var cpuStart time.Duration

// resetTimer resets b's timer and the CPU time counted by report.
func resetTimer(b *testing.B) {
	b.ResetTimer()
	cpuStart = cpuTime()
}

var _ swarm.Broker = (*memory.Broker)(nil)

// BenchmarkEmit measures the send side alone: b.N values through an emit
// channel until the broker accepted them all (Kernel.Flush).
func BenchmarkEmit(b *testing.B) {
	q, err := memory.New(fmt.Sprintf("bench-emit-%d-%d", b.N, time.Now().UnixNano()), memory.WithQueueCapacity(b.N+1))
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	enq, _ := emit.Typed[order](q)
	v := sample(1)
	b.ReportAllocs()
	resetTimer(b)
	for range b.N {
		enq <- v
	}
	if err := q.Kernel().Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	report(b)
}

// BenchmarkBaselineEncode is BenchmarkEmit's work on one goroutine with a
// bare buffered channel: encode, hand over.
func BenchmarkBaselineEncode(b *testing.B) {
	wire := make(chan []byte, b.N)
	v := sample(1)
	b.ReportAllocs()
	resetTimer(b)
	for range b.N {
		p, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		wire <- p
	}
	b.StopTimer()
	report(b)
}
