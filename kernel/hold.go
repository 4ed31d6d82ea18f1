package kernel

import (
	"sync"
	"time"
)

// holds keeps failed deliveries of a broker that cannot delay a redelivery
// (Capabilities.Delay false: Kafka, MQTT, Kinesis) until their redelivery
// backoff has passed, then releases them with no delay. Without it a Fail on
// such a broker would come straight back, and a handler failing on a
// transient cause would burn through its attempts in milliseconds. A held
// delivery keeps its in-flight slot, so holding is bounded like receiving,
// and Close releases everything held at once.
type holds struct {
	mu     sync.Mutex
	held   map[*held]struct{}
	closed bool
	firing sync.WaitGroup // timers releasing their delivery right now
}

type held struct {
	d     Digest
	timer *time.Timer
}

// hold keeps d, claimed and failed, for delay, then nacks it. It reports
// false when the kernel is closing, in which case the caller nacks at once.
func (k *Kernel) hold(d Digest, delay time.Duration) bool {
	h := &held{d: d}
	k.holds.mu.Lock()
	defer k.holds.mu.Unlock()
	if k.holds.closed {
		return false
	}
	if k.holds.held == nil {
		k.holds.held = map[*held]struct{}{}
	}
	k.holds.held[h] = struct{}{}
	h.timer = time.AfterFunc(delay, func() { k.unhold(h) })
	return true
}

// unhold releases h when its backoff has passed, unless Close took it.
func (k *Kernel) unhold(h *held) {
	k.holds.mu.Lock()
	_, ok := k.holds.held[h]
	if ok {
		delete(k.holds.held, h)
		k.holds.firing.Add(1)
	}
	k.holds.mu.Unlock()
	if !ok {
		return
	}
	defer k.holds.firing.Done()
	ctx, cancel := settleCtx()
	defer cancel()
	if err := k.rx.Nack(ctx, []any{h.d.Envelope().Handle}, 0); err != nil {
		k.Report(errorOf("nack", h.d, err))
	}
	k.flight.done(1)
}

// releaseHeld stops holding: it waits for releases under way and returns the
// handles still held, whose slots the caller frees and which it nacks.
func (k *Kernel) releaseHeld() []any {
	k.holds.mu.Lock()
	k.holds.closed = true
	handles := make([]any, 0, len(k.holds.held))
	for h := range k.holds.held {
		h.timer.Stop()
		handles = append(handles, h.d.Envelope().Handle)
	}
	k.holds.held = nil
	k.holds.mu.Unlock()
	k.holds.firing.Wait()
	return handles
}
