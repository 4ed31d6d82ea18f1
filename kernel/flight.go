package kernel

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// batch is one Receive's deliveries. Each is settled once, by whichever
// comes first: the application's ack or fail, a decode or routing failure,
// at-most-once receipt, or release at Close.
type batch struct {
	k       *Kernel
	envs    []Envelope
	settled []atomic.Bool
	pending atomic.Int32
	leased  atomic.Int64 // unix nanos when the lease was last started
}

// Digest identifies one delivery to the kernel that received it. Its zero
// value is no delivery.
type Digest struct {
	b *batch
	i int
}

// Envelope returns the delivery's envelope, or nil for the zero Digest.
func (d Digest) Envelope() *Envelope {
	if d.b == nil {
		return nil
	}
	return &d.b.envs[d.i]
}

// claim marks the delivery settled and reports whether this call did it.
func (d Digest) claim() bool {
	if !d.b.settled[d.i].CompareAndSwap(false, true) {
		return false
	}
	if d.b.pending.Add(-1) == 0 {
		d.b.k.flight.forget(d.b)
	}
	return true
}

// flight bounds the deliveries in flight, keeps the batches that still hold
// unsettled deliveries, and extends their leases.
type flight struct {
	limit int
	topUp time.Duration // see acquire

	mu    sync.Mutex
	count int
	wake  chan struct{} // signalled when count drops
	live  map[*batch]struct{}

	stopExtend context.CancelFunc
	extendDone sync.WaitGroup
	stopped    atomic.Bool
}

func (f *flight) init(limit int) {
	f.limit = limit
	f.topUp = topUp
	f.wake = make(chan struct{}, 1)
	f.live = map[*batch]struct{}{}
}

// acquire reserves up to n slots, waiting while none is free. It returns 0
// when ctx is done.
//
// While fewer than min(n, limit/4) are free it waits up to topUp for more:
// once a full window is in flight, slots come back one ack at a time, and
// taking each as it comes would turn every receive into a round trip for a
// handful of messages. The application has the in-flight deliveries to
// work on meanwhile; the wait is bounded so that one holding most of the
// window without acking still gets the rest.
func (f *flight) acquire(ctx context.Context, n int) int {
	want := min(n, max(f.limit/4, 1))
	var late <-chan time.Time
	for {
		f.mu.Lock()
		free := f.limit - f.count
		if free >= want {
			n = min(n, free)
			f.count += n
			more := f.count < f.limit
			f.mu.Unlock()
			if more {
				f.signal() // another receive loop may take the rest
			}
			return n
		}
		f.mu.Unlock()
		if free > 0 && late == nil {
			t := time.NewTimer(f.topUp)
			defer t.Stop()
			late = t.C
		}
		select {
		case <-f.wake:
		case <-late:
			want = 1
		case <-ctx.Done():
			return 0
		}
	}
}

// topUp is how long a receive waits for a larger share of the in-flight
// window once some of it is free.
const topUp = 5 * time.Millisecond

// done returns n slots.
func (f *flight) done(n int) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	f.count -= n
	f.mu.Unlock()
	f.signal()
}

func (f *flight) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *flight) track(b *batch) {
	b.leased.Store(time.Now().UnixNano())
	f.mu.Lock()
	f.live[b] = struct{}{}
	f.mu.Unlock()
}

func (f *flight) forget(b *batch) {
	f.mu.Lock()
	delete(f.live, b)
	f.mu.Unlock()
}

// unsettled claims every delivery still unsettled and returns their handles.
func (f *flight) unsettled() []any {
	f.mu.Lock()
	bs := make([]*batch, 0, len(f.live))
	for b := range f.live {
		bs = append(bs, b)
	}
	f.mu.Unlock()
	var handles []any
	for _, b := range bs {
		for i := range b.envs {
			if (Digest{b, i}).claim() {
				handles = append(handles, b.envs[i].Handle)
			}
		}
	}
	return handles
}

// startExtending extends, every lease/3, the lease of deliveries older than
// lease/3 that are still unsettled, so a slow handler keeps its message.
func (k *Kernel) startExtending() {
	lease := k.caps.Lease
	if k.ext == nil || lease <= 0 || k.cfg.Policy == AtMostOnce {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &k.flight
	f.stopExtend = cancel
	f.extendDone.Add(1)
	go func() {
		defer f.extendDone.Done()
		tick := time.NewTicker(lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				k.extend(ctx, now, lease)
			}
		}
	}()
}

func (k *Kernel) extend(ctx context.Context, now time.Time, lease time.Duration) {
	f := &k.flight
	due := now.Add(-lease / 3).UnixNano()
	f.mu.Lock()
	var old []*batch
	for b := range f.live {
		if b.leased.Load() <= due {
			old = append(old, b)
		}
	}
	f.mu.Unlock()
	var handles []any
	for _, b := range old {
		b.leased.Store(now.UnixNano())
		for i := range b.envs {
			if !b.settled[i].Load() {
				handles = append(handles, b.envs[i].Handle)
			}
		}
	}
	if len(handles) == 0 {
		return
	}
	err := k.chunked(handles, func(hs []any) error { return k.ext.Extend(ctx, hs, lease) })
	if err != nil && ctx.Err() == nil {
		k.Report(&Error{Op: "extend", Err: err})
	}
}

func (f *flight) stop() {
	if f.stopped.Swap(true) {
		return
	}
	if f.stopExtend != nil {
		f.stopExtend()
		f.extendDone.Wait()
	}
}

// release hands every unsettled delivery back to the broker at once, so
// another consumer gets it without waiting for its lease to run out.
func (k *Kernel) release() {
	if k.rx == nil {
		return
	}
	handles := append(k.flight.unsettled(), k.releaseHeld()...)
	if len(handles) == 0 {
		return
	}
	k.flight.done(len(handles))
	ctx, cancel := settleCtx()
	defer cancel()
	if err := k.chunked(handles, func(hs []any) error { return k.rx.Nack(ctx, hs, 0) }); err != nil {
		k.Report(&Error{Op: "release", Err: err})
	}
}

// chunked calls f on handles in slices of at most MaxBatch, the bound the
// driver port promises, one after the other, and returns the first error.
func (k *Kernel) chunked(handles []any, f func([]any) error) error {
	return k.chunkedPar(handles, 1, f)
}

// chunkedPar is chunked with up to par calls of f at once.
func (k *Kernel) chunkedPar(handles []any, par int, f func([]any) error) error {
	size := max(k.caps.MaxBatch, 1)
	errs := make([]error, (len(handles)+size-1)/size)
	each(len(errs), par, func(i int) {
		lo, hi := i*size, min((i+1)*size, len(handles))
		errs[i] = f(handles[lo:hi:hi])
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// each calls f(i) for every i in [0, n), up to par calls at once (one
// after the other when par <= 1), and returns once all have returned.
func each(n, par int, f func(i int)) {
	if par <= 1 || n <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}
