package kernel

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Inbox is the kernel's side of one listen channel: the deliveries of one
// category, and the way to settle them.
type Inbox struct {
	k        *Kernel
	category string
	c        chan []Digest
}

// Settlement is the application's verdict on one delivery: Err nil acks it,
// any other error fails it.
type Settlement struct {
	Digest Digest
	Err    error
}

// Listen registers the listener of category for the Go type named typ, and
// starts receiving if this is the first listener. The caller runs the
// goroutines that drain Deliveries and settle; Close waits until each has
// called Done. It fails when the broker cannot receive, is closed, or the
// category is taken.
func (k *Kernel) Listen(category, typ string) (*Inbox, error) {
	if k.rx == nil {
		return nil, fmt.Errorf("swarm: %s cannot listen: its driver is not a Receiver", k.queue)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.claim(category, typ); err != nil {
		return nil, err
	}
	old := *k.routes.Load()
	if _, ok := old[category]; ok {
		return nil, fmt.Errorf("%w: category %q already has a listener on %s; read its channel from several goroutines instead",
			ErrCategoryConflict, category, k.queue)
	}
	in := &Inbox{k: k, category: category, c: make(chan []Digest, 64)}
	routes := make(map[string]*Inbox, len(old)+1)
	for c, r := range old {
		routes[c] = r
	}
	routes[category] = in
	k.routes.Store(&routes)
	if k.recvStop == nil {
		k.startReceiving()
	}
	return in, nil
}

// Category is the category this inbox receives.
func (in *Inbox) Category() string { return in.category }

// Kernel is the kernel the inbox belongs to.
func (in *Inbox) Kernel() *Kernel { return in.k }

// Deliveries yields batches of deliveries of the inbox's category.
func (in *Inbox) Deliveries() <-chan []Digest { return in.c }

// Add tells Close to wait for one more goroutine of this inbox.
func (in *Inbox) Add() { in.k.listeners.Add(1) }

// Done tells Close that one goroutine of this inbox has finished.
func (in *Inbox) Done() { in.k.listeners.Done() }

// Delivered tells the kernel the application took n deliveries. Under
// at-most-once it frees their in-flight slots (they were settled on
// receipt); under at-least-once the slots wait for the settlement.
func (in *Inbox) Delivered(n int) {
	if in.k.cfg.Policy == AtMostOnce {
		in.k.flight.done(n)
	}
}

// Reject settles a delivery that cannot be handed to the application (its
// payload does not decode): it is reported and dead-lettered.
func (in *Inbox) Reject(ctx context.Context, d Digest, err error) {
	in.k.Report(errorOf("decode", d, err))
	if in.k.cfg.Policy == AtMostOnce {
		in.k.flight.done(1)
		return
	}
	if d.claim() {
		in.k.deadLetter(ctx, []Digest{d}, err)
		in.k.flight.done(1)
	}
}

// Settle acks and fails deliveries in batches (acks in up to
// SettleConcurrency calls at once). Failed deliveries are released
// to the broker with the Redelivery delay for their attempt, or dead-lettered
// once their attempts are exhausted. Deliveries already settled (acked twice,
// released by Close, settled on receipt under at-most-once) are skipped, and
// so are digests of another broker, which are reported.
func (in *Inbox) Settle(ctx context.Context, ss []Settlement) {
	k := in.k
	acks := make([]any, 0, len(ss))
	var fails []Settlement
	settled := 0
	for _, s := range ss {
		d := s.Digest
		if d.b == nil || d.b.k != k {
			k.Report(&Error{Op: "ack", Category: in.category, Err: fmt.Errorf("message was not received by this broker")})
			continue
		}
		if !d.claim() {
			continue
		}
		settled++
		if s.Err == nil {
			acks = append(acks, d.Envelope().Handle)
		} else {
			fails = append(fails, s)
		}
	}
	if len(acks) > 0 {
		if err := k.chunkedPar(acks, k.caps.SettleConcurrency, func(hs []any) error { return k.rx.Ack(ctx, hs) }); err != nil {
			k.Report(&Error{Op: "ack", Category: in.category, Err: err})
		}
	}
	for _, s := range fails {
		if k.fail(ctx, s.Digest, s.Err) {
			settled-- // its slot is freed when the hold ends
		}
	}
	k.flight.done(settled)
}

// fail releases a claimed delivery for redelivery after its backoff, or
// dead-letters it when its attempts are exhausted. It reports whether the
// kernel holds the delivery to wait out the backoff itself (brokers without
// Delay); the delivery then keeps its in-flight slot until released.
func (k *Kernel) fail(ctx context.Context, d Digest, cause error) (held bool) {
	env := d.Envelope()
	if !k.caps.Redelivery || env.Attempt >= k.cfg.Redelivery.Attempts() {
		k.deadLetter(ctx, []Digest{d}, fmt.Errorf("%w (%d): %w", ErrMaxAttempts, env.Attempt, cause))
		return false
	}
	delay := k.cfg.Redelivery.Delay(env.Attempt)
	if delay > 0 && !k.caps.Delay && k.hold(d, delay) {
		return true
	}
	if err := k.rx.Nack(ctx, []any{env.Handle}, delay); err != nil {
		k.Report(errorOf("nack", d, err))
	}
	return false
}

// deadLetter moves claimed deliveries to the broker's dead-letter destination
// and reports why. Without one, they are acked and the report is all that
// remains (ErrNoDeadLetter).
func (k *Kernel) deadLetter(ctx context.Context, ds []Digest, cause error) {
	handles := make([]any, len(ds))
	for i, d := range ds {
		handles[i] = d.Envelope().Handle
	}
	if k.dlx == nil {
		for _, d := range ds {
			k.Report(errorOf("dead-letter", d, fmt.Errorf("%w: %w", ErrNoDeadLetter, cause)))
		}
		if err := k.chunked(handles, func(hs []any) error { return k.rx.Ack(ctx, hs) }); err != nil {
			k.Report(&Error{Op: "ack", Err: err})
		}
		return
	}
	for _, d := range ds {
		k.Report(errorOf("dead-letter", d, cause))
	}
	if err := k.chunked(handles, func(hs []any) error { return k.dlx.DeadLetter(ctx, hs) }); err != nil {
		k.Report(&Error{Op: "dead-letter", Err: err})
	}
}

func errorOf(op string, d Digest, err error) *Error {
	env := d.Envelope()
	return &Error{Op: op, Category: env.Category, ID: env.ID, Attempt: env.Attempt, Err: err}
}

// startReceiving runs the receive loops; the caller holds k.mu.
func (k *Kernel) startReceiving() {
	ctx, cancel := context.WithCancel(context.Background())
	k.recvStop = cancel
	k.startExtending()
	for range max(k.caps.Receivers, 1) {
		k.recvDone.Add(1)
		go func() {
			defer k.recvDone.Done()
			k.receive(ctx)
		}()
	}
}

// receive fetches batches while in-flight slots are free: at once after a
// non-empty batch, with backoff up to PollFrequency after an empty one (unless
// the driver long-polls) or an error.
func (k *Kernel) receive(ctx context.Context) {
	idle := time.Duration(0)
	for {
		n := k.flight.acquire(ctx, k.caps.MaxBatch)
		if n == 0 {
			return
		}
		envs, err := k.rx.Receive(ctx, n)
		k.flight.done(n - len(envs))
		if ctx.Err() != nil {
			if len(envs) > 0 {
				// Received while stopping: hand them back at once.
				k.dispatchRelease(envs)
			}
			return
		}
		if err != nil {
			k.Report(&Error{Op: "receive", Err: err})
			idle = k.backoff(idle)
			if !sleep(ctx, idle) {
				return
			}
			continue
		}
		if len(envs) == 0 {
			if !k.caps.LongPoll {
				idle = k.backoff(idle)
				if !sleep(ctx, idle) {
					return
				}
			}
			continue
		}
		idle = 0
		k.dispatch(ctx, envs)
	}
}

func (k *Kernel) backoff(d time.Duration) time.Duration {
	if d == 0 {
		return min(time.Millisecond, k.cfg.PollFrequency)
	}
	return min(2*d, k.cfg.PollFrequency)
}

func (k *Kernel) dispatchRelease(envs []Envelope) {
	handles := make([]any, len(envs))
	for i := range envs {
		handles[i] = envs[i].Handle
	}
	k.flight.done(len(envs))
	c, cancel := settleCtx()
	defer cancel()
	if err := k.chunked(handles, func(hs []any) error { return k.rx.Nack(c, hs, 0) }); err != nil {
		k.Report(&Error{Op: "release", Err: err})
	}
}

// dispatch hands a received batch to the inboxes of its categories. It blocks
// while an inbox is full: that is the flow control that stops receiving when
// the application stops consuming.
func (k *Kernel) dispatch(ctx context.Context, envs []Envelope) {
	b := &batch{k: k, envs: envs, settled: make([]atomic.Bool, len(envs))}
	b.pending.Store(int32(len(envs)))
	atMostOnce := k.cfg.Policy == AtMostOnce
	if atMostOnce {
		handles := make([]any, len(envs))
		for i := range envs {
			b.settled[i].Store(true)
			handles[i] = envs[i].Handle
		}
		b.pending.Store(0)
		if err := k.rx.Ack(ctx, handles); err != nil {
			k.Report(&Error{Op: "ack", Err: err})
		}
	} else {
		k.flight.track(b)
	}

	routes := *k.routes.Load()
	type group struct {
		in *Inbox
		ds []Digest
	}
	var groups []group
	var unknown []Digest
	for i := range envs {
		d := Digest{b, i}
		in := routes[envs[i].Category]
		if in == nil {
			unknown = append(unknown, d)
			continue
		}
		j := 0
		for j < len(groups) && groups[j].in != in {
			j++
		}
		if j == len(groups) {
			groups = append(groups, group{in: in, ds: make([]Digest, 0, len(envs)-i)})
		}
		groups[j].ds = append(groups[j].ds, d)
	}
	for _, d := range unknown {
		k.unroutable(ctx, d)
	}
	for _, g := range groups {
		select {
		case g.in.c <- g.ds:
		case <-ctx.Done():
			return
		}
	}
}

// unroutable handles a delivery whose category has no listener here. It is
// released for redelivery (another consumer of the queue may listen to it,
// or its listener may not be registered yet) and dead-lettered once its
// attempts are exhausted.
func (k *Kernel) unroutable(ctx context.Context, d Digest) {
	env := d.Envelope()
	err := fmt.Errorf("%w %q", ErrUnknownCategory, env.Category)
	if k.cfg.Policy == AtMostOnce {
		k.Report(errorOf("route", d, err))
		k.flight.done(1)
		return
	}
	if !d.claim() {
		return
	}
	if env.Attempt < k.cfg.Redelivery.Attempts() && k.caps.Redelivery {
		k.Report(errorOf("route", d, err))
	}
	if !k.fail(ctx, d, err) {
		k.flight.done(1)
	}
}

// Abandon tells the kernel the application will not get these deliveries
// because the broker is closing. Under at-least-once they are released by
// Close; under at-most-once they were settled on receipt, so they are lost,
// and reported as such.
func (in *Inbox) Abandon(ds []Digest) {
	if in.k.cfg.Policy != AtMostOnce || len(ds) == 0 {
		return
	}
	in.k.flight.done(len(ds))
	in.k.Report(&Error{Op: "release", Category: in.category,
		Err: fmt.Errorf("%w: %d messages received at-most-once were not yet delivered and are lost", ErrClosed, len(ds))})
}
