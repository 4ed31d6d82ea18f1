package nats

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm/kernel"
)

// prefetch keeps one no-wait pull in flight ahead of the kernel's next
// Receive, and what a pull delivered beyond what Receive could take. Without
// it every Receive waited a round trip to the server while the consumer sat
// idle. What it holds counts against the kernel's in-flight bound (the
// deliveries a broker keeps from competing consumers): a pull ahead asks
// only for the slots neither the kernel nor the prefetch holds, so a
// consumer that stops reading holds no more than its bound. Close naks what
// it still holds.
//
// Pulls never wait on the server (see poll), and one starts only when the
// previous one has ended, so the server serves them in order and the
// consumer's order is kept.
type prefetch struct {
	mu     sync.Mutex
	next   jetstream.MessageBatch // the pull in flight, nil when none
	nextAt time.Time              // when next started
	left   []jetstream.Msg        // delivered, not yet handed to the kernel
	leftAt time.Time              // when the pull that delivered left started
}

// fetchNoWait hands over up to max deliveries: those left by the last pull,
// else those of the pull in flight, else those of a new no-wait pull. Before
// returning, it starts the next pull when this one delivered something.
func (d *driver) fetchNoWait(ctx context.Context, max int) ([]kernel.Envelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &d.pre
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.left) == 0 {
		b, at := p.next, p.nextAt
		p.next = nil
		if b == nil {
			var err error
			if b, at, err = d.pull(max); err != nil {
				return nil, err
			}
		}
		p.leftAt = at
		msgs, err := d.collect(ctx, b, max)
		p.left = msgs
		if err != nil || ctx.Err() != nil {
			// What was read goes back to the kernel, which releases it
			// when its context is done.
			return d.take(max), err
		}
	}
	envs := d.take(max)
	if len(envs) > 0 && p.next == nil {
		if want := min(d.maxBatch, d.room(max, len(envs))); want > 0 {
			// A failure here shows again on the next pull, which is
			// then made at once.
			p.next, p.nextAt, _ = d.pull(want)
		}
	}
	return envs, nil
}

// room is how many deliveries a pull ahead may ask for: the in-flight
// bound less what the kernel holds once this Receive has returned got of
// the max slots it reserved, less what the prefetch holds. The kernel's
// count only grows by the one receive loop, which is here.
func (d *driver) room(max, got int) int {
	k := d.k.Load()
	if k == nil {
		return 0
	}
	return d.inFlight - (k.InFlight() - max + got) - len(d.pre.left)
}

// pull starts a no-wait pull of up to n messages and tells when.
func (d *driver) pull(n int) (jetstream.MessageBatch, time.Time, error) {
	at := time.Now()
	b, err := (*d.cons.Load()).FetchNoWait(n)
	if err != nil {
		return nil, at, fmt.Errorf("nats: fetch from %s: %w", d.where, err)
	}
	return b, at, nil
}

// take turns up to max of the deliveries left into envelopes. Deliveries
// that waited here a good part of their AckWait are marked in progress
// first, which restarts it: the kernel extends leases only of what it holds.
func (d *driver) take(max int) []kernel.Envelope {
	p := &d.pre
	n := min(max, len(p.left))
	if n == 0 {
		return nil
	}
	stale := d.lease > 0 && time.Since(p.leftAt) > d.lease/4
	envs := make([]kernel.Envelope, n)
	for i, m := range p.left[:n] {
		if stale {
			_ = m.InProgress()
		}
		envs[i] = d.wire.envelope(m)
	}
	clear(p.left[:n])
	p.left = p.left[n:]
	if len(p.left) == 0 {
		p.left = nil
	}
	return envs
}

// release naks what the prefetch holds, so that it is delivered again at
// once (to this consumer's next broker or another one). Close calls it once
// the kernel has stopped receiving.
func (p *prefetch) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.left {
		_ = m.Nak()
	}
	p.left = nil
	if p.next != nil {
		// A no-wait pull ends as soon as the server has answered, or
		// after the client's timeout when it is away.
		for m := range p.next.Messages() {
			_ = m.Nak()
		}
		p.next = nil
	}
}
