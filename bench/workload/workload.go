// Package workload runs the same messaging workload against competing
// implementations (the raw client, swarm, Watermill) and measures them.
package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Payload is the message every contender sends: a small JSON struct, with
// Body padded for the 1 KiB workload.
type Payload struct {
	ID     int    `json:"id"`
	SentNs int64  `json:"sent_ns"`
	Kind   string `json:"kind"`
	Body   string `json:"body"`
}

// Make returns message i of a workload whose encoded size is about size bytes.
func Make(i, size int) Payload {
	p := Payload{ID: i, SentNs: time.Now().UnixNano(), Kind: "order.created"}
	if pad := size - 70; pad > 0 {
		p.Body = strings.Repeat("x", pad)
	}
	return p
}

// Encode is the JSON encoding the raw and Watermill contenders use.
func Encode(p Payload) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// Decode is the inverse of Encode.
func Decode(b []byte) (Payload, error) {
	var p Payload
	err := json.Unmarshal(b, &p)
	return p, err
}

// Contender is one way of sending and receiving through a broker.
type Contender interface {
	// Publish sends n messages made by msg and returns once the broker
	// accepted all of them.
	Publish(ctx context.Context, n int, msg func(i int) Payload) error
	// Consume receives and acknowledges n messages, calling got for each.
	Consume(ctx context.Context, n int, got func(Payload)) error
	// Close releases the contender.
	Close() error
}

// Factory opens a contender on a fresh queue or topic.
type Factory func(queue string) (Contender, error)

// Result is one measurement.
type Result struct {
	Rate float64 // messages per second
	// Send and Receive are the rates of the publish and the consume phase
	// of a Sequential run (send = accepted by the broker, receive = received
	// and acknowledged); 0 for other runs.
	Send, Receive float64
	P50, P99      time.Duration
	AllocsPerMsg  float64
	// ClientCPU is the CPU time per message of this process (the contender:
	// its client library, the JSON, the library under test) over the run,
	// and OtherCPU that of the rest of the host (the broker's server or
	// emulator, on this project's machine); both 0 where they are not
	// measured (outside Linux). On a host with few cores the two compete,
	// so a contender's rate follows their sum.
	ClientCPU, OtherCPU time.Duration
	Err                 error
}

// meter holds the process's and the host's counters at the start of a run:
// allocations and CPU time.
type meter struct {
	mallocs    uint64
	self, host time.Duration
	cpuOK      bool
}

func startMeter() meter {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := meter{mallocs: ms.Mallocs}
	m.self, m.host, m.cpuOK = cpuNow()
	return m
}

// stop sets r's allocations and CPU time per message since m, for n
// messages.
func (m meter) stop(r *Result, n int) {
	if n == 0 {
		return
	}
	self, host, ok := cpuNow()
	if m.cpuOK && ok {
		r.ClientCPU = (self - m.self) / time.Duration(n)
		// The host's counter ticks in hundredths of a second, this
		// process's in microseconds: on a short run the difference can dip
		// below zero.
		r.OtherCPU = max(0, (host-m.host)-(self-m.self)) / time.Duration(n)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.AllocsPerMsg = float64(ms.Mallocs-m.mallocs) / float64(n)
}

// Sequential publishes n messages, then consumes them; the rate is n over
// the whole time.
func Sequential(f Factory, queue string, n, size int) Result {
	c, err := f(queue)
	if err != nil {
		return Result{Err: err}
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m := startMeter()
	start := time.Now()
	if err := c.Publish(ctx, n, func(i int) Payload { return Make(i, size) }); err != nil {
		return Result{Err: fmt.Errorf("publish: %w", err)}
	}
	published := time.Now()
	if err := c.Consume(ctx, n, func(Payload) {}); err != nil {
		return Result{Err: fmt.Errorf("consume: %w", err)}
	}
	end := time.Now()
	res := Result{
		Rate:    float64(n) / end.Sub(start).Seconds(),
		Send:    float64(n) / published.Sub(start).Seconds(),
		Receive: float64(n) / end.Sub(published).Seconds(),
	}
	m.stop(&res, n)
	return res
}

// Concurrent publishes and consumes at once and measures the latency from
// send to receive.
func Concurrent(f Factory, queue string, n, size int) Result {
	c, err := f(queue)
	if err != nil {
		return Result{Err: err}
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lat := make([]time.Duration, 0, n)
	m := startMeter()
	start := time.Now()
	var wg sync.WaitGroup
	var consumeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		consumeErr = c.Consume(ctx, n, func(p Payload) {
			lat = append(lat, time.Duration(time.Now().UnixNano()-p.SentNs))
		})
	}()
	if err := c.Publish(ctx, n, func(i int) Payload { return Make(i, size) }); err != nil {
		cancel()
		wg.Wait()
		return Result{Err: fmt.Errorf("publish: %w", err)}
	}
	wg.Wait()
	d := time.Since(start)
	var res Result
	m.stop(&res, n)
	if consumeErr != nil {
		return Result{Err: fmt.Errorf("consume: %w", consumeErr)}
	}
	slices.Sort(lat)
	res.Rate = float64(n) / d.Seconds()
	res.P50, res.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	return res
}
