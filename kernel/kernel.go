// Package kernel is the I/O kernel of swarm and the driver port that broker
// adapters implement.
//
// The kernel does the channel work once for every broker: routing by
// category, ordered batched emit with retries and dead letters, bounded
// in-flight receive, batched acks, redelivery backoff, lease extension,
// reporting, and a Close that flushes and releases. A driver only moves
// batches of Envelopes to and from its broker (Sender, Receiver and the
// optional Extender, DeadLetterer and io.Closer) and declares its
// Capabilities.
//
// Applications do not use this package directly: they open a broker (package
// broker/memory, broker/redis, ... or swarm.Open) and use packages emit and
// listen. Broker authors build a Kernel with New in their constructor.
package kernel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kernel runs the typed channels of one broker connection over its Driver.
// It is safe for concurrent use.
type Kernel struct {
	cfg   Config
	queue string
	drv   Driver
	caps  Capabilities
	tx    Sender
	rx    Receiver
	ext   Extender
	dlx   DeadLetterer

	idPrefix string
	idSeq    atomic.Uint64

	mu     sync.Mutex
	closed bool
	types  map[string]string // category -> type that claimed it
	pumps  []*Emitter        // emitters with a goroutine, for Flush
	routes atomic.Pointer[map[string]*Inbox]

	closing   chan struct{} // closed when Close begins
	emitters  sync.WaitGroup
	listeners sync.WaitGroup
	recvStop  context.CancelFunc
	recvDone  sync.WaitGroup
	flight    flight
	holds     holds

	closeOnce sync.Once
	closeErr  error
}

// New returns a kernel that runs typed channels over d, which must be a
// Sender, a Receiver or both. queue names the broker and queue in errors
// (never a credential). cfg comes from NewConfig.
func New(cfg Config, queue string, d Driver) *Kernel {
	k := &Kernel{
		cfg:     cfg,
		queue:   queue,
		drv:     d,
		caps:    d.Capabilities(),
		types:   map[string]string{},
		closing: make(chan struct{}),
	}
	k.caps.MaxBatch = max(k.caps.MaxBatch, 1)
	k.tx, _ = d.(Sender)
	k.rx, _ = d.(Receiver)
	k.ext, _ = d.(Extender)
	k.dlx, _ = d.(DeadLetterer)
	routes := map[string]*Inbox{}
	k.routes.Store(&routes)
	k.flight.init(cfg.AckCapacity)

	open.Store(k, struct{}{})
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	k.idPrefix = hex.EncodeToString(seed[:]) + "-"
	return k
}

// Kernel returns k itself, so that a *Kernel is a swarm.Broker and broker
// packages may embed it.
func (k *Kernel) Kernel() *Kernel { return k }

// Config returns the kernel's settings.
func (k *Kernel) Config() Config { return k.cfg }

// Capabilities returns what the driver declared.
func (k *Kernel) Capabilities() Capabilities { return k.caps }

// InFlight is the number of deliveries received and not yet settled
// (bounded by Config.AckCapacity).
func (k *Kernel) InFlight() int {
	k.flight.mu.Lock()
	defer k.flight.mu.Unlock()
	return k.flight.count
}

// Queue names the broker and queue, as given to New.
func (k *Kernel) Queue() string { return k.queue }

// Closing is closed when Close begins. Channel goroutines watch it to flush
// and stop.
func (k *Kernel) Closing() <-chan struct{} { return k.closing }

// NewID returns a message id unique to this process run: a random prefix per
// kernel and a sequence number.
func (k *Kernel) NewID() string {
	return k.idPrefix + strconv.FormatUint(k.idSeq.Add(1), 36)
}

// assignIDs gives a new id to each envelope that has none. The ids of a
// batch share one allocation, and are consecutive numbers, so each is the
// last one's digits counted up by one rather than formatted anew.
func (k *Kernel) assignIDs(batch []Envelope) {
	missing := 0
	for i := range batch {
		if batch[i].ID == "" {
			missing++
		}
	}
	if missing == 0 {
		return
	}
	first := k.idSeq.Add(uint64(missing)) - uint64(missing) + 1
	var scratch [16]byte
	digits := strconv.AppendUint(scratch[:0], first, 36)
	var all strings.Builder
	all.Grow(missing * (len(k.idPrefix) + len(digits) + 1))
	ends := make([]int, 0, missing)
	for range missing {
		all.WriteString(k.idPrefix)
		all.Write(digits)
		ends = append(ends, all.Len())
		digits = increment36(digits)
	}
	ids := all.String()
	start, j := 0, 0
	for i := range batch {
		if batch[i].ID == "" {
			batch[i].ID = ids[start:ends[j]]
			start = ends[j]
			j++
		}
	}
}

// increment36 adds one to the base-36 number d (strconv's digits, 0-9a-z)
// in place, growing it by a digit on overflow.
func increment36(d []byte) []byte {
	for i := len(d) - 1; i >= 0; i-- {
		switch d[i] {
		case '9':
			d[i] = 'a'
			return d
		case 'z':
			d[i] = '0'
		default:
			d[i]++
			return d
		}
	}
	return append([]byte{'1'}, d...)
}

// claim registers typ as the owner of category, or fails when another type
// holds it.
func (k *Kernel) claim(category, typ string) error {
	if category == "" {
		return fmt.Errorf("%w: empty category for type %s", ErrCategoryConflict, typ)
	}
	if k.closed {
		return ErrClosed
	}
	if owner, ok := k.types[category]; ok && owner != typ {
		return fmt.Errorf("%w: category %q is claimed by type %s, type %s cannot use it on %s",
			ErrCategoryConflict, category, owner, typ, k.queue)
	}
	k.types[category] = typ
	return nil
}

// Report sends err to the error side channel without blocking, or logs it
// when the channel is absent or full.
func (k *Kernel) Report(err *Error) {
	if err.Queue == "" {
		err.Queue = k.queue
	}
	if k.cfg.StdErr != nil && offer(k.cfg.StdErr, err) {
		return
	}
	k.cfg.Logger.Warn("swarm", "op", err.Op, "queue", err.Queue, "category", err.Category,
		"id", err.ID, "attempt", err.Attempt, "error", err.Err)
}

// offer sends err on ch without blocking. An application that closed its
// error channel while the broker could still report (a late send after
// Close) gets the report logged instead of a panic.
func offer(ch chan<- error, err error) (sent bool) {
	defer func() {
		if recover() != nil {
			sent = false
		}
	}()
	select {
	case ch <- err:
		return true
	default:
		return false
	}
}

// Flush returns once every value handed to the broker's emit channels
// before the call has been sent (or dead-lettered), or with ctx's error.
// Serverless handlers call it, through FlushAll, before they return, since
// the runtime may freeze the process right after.
func (k *Kernel) Flush(ctx context.Context) error {
	k.mu.Lock()
	pumps := append([]*Emitter(nil), k.pumps...)
	k.mu.Unlock()
	for _, e := range pumps {
		done := make(chan struct{})
		select {
		case e.flushes <- done:
		case <-k.closing:
			return nil // Close flushes
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

var open sync.Map // *Kernel -> struct{}: the kernels not yet closed

// FlushAll flushes every open kernel of the process (see Flush).
func FlushAll(ctx context.Context) error {
	var err error
	open.Range(func(k, _ any) bool {
		err = k.(*Kernel).Flush(ctx)
		return err == nil
	})
	return err
}

// Close flushes every emit already handed over, settles the acks already
// sent, releases unsettled deliveries back to the broker, closes the listen
// and dead-letter channels, and closes the driver. It is safe to call more
// than once and from several goroutines; every call returns the first
// call's result once the work is done.
func (k *Kernel) Close() error {
	k.closeOnce.Do(func() {
		k.mu.Lock()
		k.closed = true
		k.mu.Unlock()
		defer open.Delete(k)

		if k.recvStop != nil {
			k.recvStop()
			k.recvDone.Wait()
		}
		close(k.closing)
		k.emitters.Wait()
		k.listeners.Wait()
		k.release()
		k.flight.stop()

		if c, ok := k.drv.(io.Closer); ok {
			k.closeErr = c.Close()
		}
	})
	return k.closeErr
}

// settleCtx bounds the broker calls made while closing, so that Close
// returns even when the broker is unreachable.
func settleCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}
