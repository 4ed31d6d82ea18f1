package nats

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm/kernel"
)

// confirmer confirms acks off the kernel's path. Ack publishes the acks of
// a batch and returns, so the kernel frees their in-flight slots at once; a
// goroutine then flushes (one round trip confirms the server has read every
// ack published before it) and, when the flush failed with the connection,
// sends the acks again once reconnected, as Ack used to do before
// returning. Waiting for that round trip on every batch held a batch's slots
// for a round trip, which the receive side then lacked.
//
// An ack that is never confirmed is not a loss: its delivery comes back
// after the AckWait (at least once). The acks awaiting confirmation are
// bounded: past maxUnconfirmed, Ack waits for the flush in progress.
type confirmer struct {
	mu      sync.Mutex
	pending []jetstream.Msg // acked, not yet confirmed
	swapped chan struct{}   // closed when pending is taken by the goroutine
	kick    chan struct{}   // wakes the goroutine
	stop    chan struct{}   // closed by Close: confirm what is left, then end
	done    chan struct{}   // closed when the goroutine has ended
	start   sync.Once
}

// ackDone hands the acks of msgs, already published, to the confirmer. It
// waits only while too many acks await confirmation.
func (d *driver) ackDone(ctx context.Context, msgs []jetstream.Msg) error {
	c := &d.confirm
	c.start.Do(func() {
		c.swapped = make(chan struct{})
		c.kick = make(chan struct{}, 1)
		c.stop = make(chan struct{})
		c.done = make(chan struct{})
		go d.confirmLoop()
	})
	for {
		c.mu.Lock()
		if len(c.pending) < d.maxUnconfirmed() {
			c.pending = append(c.pending, msgs...)
			c.mu.Unlock()
			select {
			case c.kick <- struct{}{}:
			default:
			}
			return nil
		}
		swapped := c.swapped
		c.mu.Unlock()
		select {
		case <-swapped:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return fmt.Errorf("nats: ack on %s: the broker is closed", d.where)
		}
	}
}

// maxUnconfirmed bounds the acks awaiting confirmation: a few in-flight
// windows, so that the consumer never waits on them while the server
// answers.
func (d *driver) maxUnconfirmed() int { return 4 * max(d.inFlight, d.maxBatch) }

func (d *driver) confirmLoop() {
	c := &d.confirm
	defer close(c.done)
	for {
		final := false
		select {
		case <-c.kick:
		case <-c.stop:
			final = true
		}
		c.mu.Lock()
		msgs := c.pending
		c.pending = nil
		close(c.swapped)
		c.swapped = make(chan struct{})
		c.mu.Unlock()
		if len(msgs) > 0 {
			d.confirmAcks(msgs)
		}
		if final {
			return
		}
	}
}

// confirmAcks flushes; when the flush failed and the connection is still
// open (reconnecting), it sends the acks again once reconnected. Failures
// go to the kernel's error channel: the deliveries come back after their
// AckWait.
func (d *driver) confirmAcks(msgs []jetstream.Msg) {
	ctx := context.Background()
	err := d.flush(ctx)
	if err == nil || d.nc.IsClosed() {
		return
	}
	if d.reack(ctx, msgs) == nil {
		return
	}
	if k := d.k.Load(); k != nil {
		k.Report(&kernel.Error{Op: "ack", Err: fmt.Errorf("nats: ack %d deliveries on %s: %w", len(msgs), d.where, err)})
	}
}

// closeConfirmer confirms the acks still pending and ends the goroutine.
func (d *driver) closeConfirmer() {
	c := &d.confirm
	c.start.Do(func() {}) // no goroutine starts after this
	if c.stop != nil {
		close(c.stop)
		<-c.done
	}
}
