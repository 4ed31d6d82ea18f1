// Package fake is a scripted driver for the kernel's own unit tests: it
// fails sends on demand and serves receives from a script, so tests can
// observe retries, batching and polling that a real broker hides.
package fake

import (
	"context"
	"sync"
	"time"

	"github.com/swarm-go/swarm/kernel"
)

// Driver records every call. Set its fields before use.
type Driver struct {
	Caps kernel.Capabilities
	// Fail decides the error of an envelope on its nth send (1-based); nil
	// means accepted.
	Fail func(env kernel.Envelope, nth int) error

	mu       sync.Mutex
	sends    [][]kernel.Envelope
	tries    map[string]int
	script   [][]kernel.Envelope
	receives []time.Time
	acked    []any
	nacked   []any
	nacks    []Nack
}

// Nack is one nacked handle: when, and with which delay.
type Nack struct {
	Handle any
	Delay  time.Duration
	At     time.Time
}

func (d *Driver) Capabilities() kernel.Capabilities { return d.Caps }

// Send records the batch and fails envelopes as Fail says.
func (d *Driver) Send(_ context.Context, batch []kernel.Envelope) []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tries == nil {
		d.tries = map[string]int{}
	}
	d.sends = append(d.sends, append([]kernel.Envelope(nil), batch...))
	var errs []error
	for i, env := range batch {
		d.tries[env.ID]++
		if d.Fail == nil {
			continue
		}
		if err := d.Fail(env, d.tries[env.ID]); err != nil {
			if errs == nil {
				errs = make([]error, len(batch))
			}
			errs[i] = err
		}
	}
	return errs
}

// Sends returns the batches sent so far.
func (d *Driver) Sends() [][]kernel.Envelope {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([][]kernel.Envelope(nil), d.sends...)
}

// Script queues batches for Receive to return, one per call; when the
// script is empty Receive returns none at once (it does not long-poll).
func (d *Driver) Script(batches ...[]kernel.Envelope) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.script = append(d.script, batches...)
}

// Receive returns the next scripted batch, or none.
func (d *Driver) Receive(ctx context.Context, max int) ([]kernel.Envelope, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.receives = append(d.receives, time.Now())
	if len(d.script) == 0 {
		return nil, ctx.Err()
	}
	b := d.script[0]
	if len(b) > max {
		d.script[0] = b[max:]
		return b[:max], nil
	}
	d.script = d.script[1:]
	return b, nil
}

// Receives returns the times Receive was called.
func (d *Driver) Receives() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.receives...)
}

func (d *Driver) Ack(_ context.Context, handles []any) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.acked = append(d.acked, handles...)
	return nil
}

func (d *Driver) Nack(_ context.Context, handles []any, delay time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nacked = append(d.nacked, handles...)
	now := time.Now()
	for _, h := range handles {
		d.nacks = append(d.nacks, Nack{Handle: h, Delay: delay, At: now})
	}
	return nil
}

// Nacks returns every nack so far, in order.
func (d *Driver) Nacks() []Nack {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Nack(nil), d.nacks...)
}

// Settled returns the handles acked and nacked so far.
func (d *Driver) Settled() (acked, nacked []any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]any(nil), d.acked...), append([]any(nil), d.nacked...)
}
