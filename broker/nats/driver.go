package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm/kernel"
)

// headerReserve is what MaxPayload leaves of the server's max_payload for
// the headers (category, id, attributes).
const headerReserve = 8 << 10

// driver is the kernel's port onto one JetStream stream and its durable
// pull consumer.
type driver struct {
	nc      *natsgo.Conn
	ownConn bool
	release func() // releases a shared embedded server; nil otherwise
	js      jetstream.JetStream
	pub     *publisher                         // the queue's publishes; js publishes dead letters
	cons    atomic.Pointer[jetstream.Consumer] // replaced when setup runs again
	where   string                             // nats://host/queue, for errors

	subject    string
	dlqSubject string
	stream     jetstream.StreamConfig
	consumer   jetstream.ConsumerConfig
	dlqStream  jetstream.StreamConfig // created on the first dead letter
	setupMu    sync.Mutex             // serialises setups after a loss (recoverFrom)
	resetup    gate                   // spaces them
	repairs    gate                   // spaces the repairs of a stream whose files are gone
	gen        atomic.Uint64          // counts them: a call that failed before the last may retry
	created    time.Time              // when the stream set up last was created; setupMu guards it after New
	dlqMu      sync.Mutex
	dlqReady   bool

	apiTimeout time.Duration
	fetchWait  time.Duration
	pollOnly   bool // the server is older than 2.10: see poll
	maxBatch   int
	inFlight   int // the kernel's bound on deliveries in flight (AckCapacity)
	maxPayload int
	lease      time.Duration
	dedup      bool // WithDeduplication: the id travels as Nats-Msg-Id
	wire       wire // how messages carry their envelope; set by the first setup
	wireSet    bool // written once, by the setup in New

	k atomic.Pointer[kernel.Kernel] // set once New has built it; reports connection events

	pre       prefetch
	confirm   confirmer
	drains    sync.WaitGroup // goroutines naking what a cancelled fetch still delivers
	closeOnce sync.Once
}

func (d *driver) Capabilities() kernel.Capabilities {
	return kernel.Capabilities{
		// One consumer delivers in stream order; a single receive loop
		// keeps it (redeliveries aside, as on every broker).
		Ordered:        true,
		Persistent:     true,
		Redelivery:     true,
		Delay:          true, // NakWithDelay
		ConsumerGroups: true, // one durable consumer shared by every broker
		LongPoll:       true, // Fetch waits up to fetchWait itself
		Receivers:      1,
		MaxBatch:       d.maxBatch,
		// Bounds what one Send hands the client at once, well under its
		// reconnect buffer (8 MiB), so a batch sent while reconnecting
		// is buffered whole.
		MaxBatchBytes: 4 << 20,
		MaxPayload:    d.maxPayload,
		Lease:         d.lease,
	}
}

// Send publishes the batch asynchronously, in order, then waits for every
// acknowledgement from the stream. A publish the stream did not acknowledge
// in time is reported for the kernel to retry, with the same message id
// (which the stream de-duplicates with WithDeduplication).
func (d *driver) Send(ctx context.Context, batch []kernel.Envelope) []error {
	return d.SendAsync(ctx, batch)()
}

// The kernel keeps several batches in flight with drivers that send
// asynchronously.
var _ kernel.AsyncSender = (*driver)(nil)

// SendAsync publishes the batch (in order, on the one connection, so
// batches started one after another keep their order) and returns the wait
// for the stream's acknowledgements. The kernel keeps several batches in
// flight this way.
func (d *driver) SendAsync(ctx context.Context, batch []kernel.Envelope) func() []error {
	if err := ctx.Err(); err != nil {
		errs := make([]error, len(batch))
		for i := range errs {
			errs[i] = err
		}
		return func() []error { return errs }
	}
	msgs := make([]natsgo.Msg, len(batch))
	subject, category := d.subject, ""
	for i := range batch {
		// A batch is mostly of one category: one subject for a run of them.
		if c := batch[i].Category; d.wire.catPrefix != "" && (i == 0 || c != category) {
			subject, category = categorySubject(d.subject, c), c
		}
		d.wire.setMessage(&msgs[i], subject, &batch[i])
	}
	gen := d.gen.Load()
	wait := d.pub.publish(msgs)
	return func() []error {
		errs := d.retrySend(ctx, msgs, wait(ctx.Done(), ctx.Err), gen)
		for i, err := range errs {
			if err != nil && !errors.Is(err, ctx.Err()) {
				errs[i] = d.publishErr(err)
			}
		}
		return errs
	}
}

// publishErr names where a publish failed and marks what no retry can fix.
func (d *driver) publishErr(err error) error {
	e := fmt.Errorf("nats: publish to %s: %w", d.where, err)
	switch {
	case errors.Is(err, natsgo.ErrMaxPayload):
		return kernel.Permanent(fmt.Errorf("%w: %w", kernel.ErrTooLarge, e))
	case errors.Is(err, natsgo.ErrBadSubject), errors.Is(err, natsgo.ErrConnectionClosed):
		return kernel.Permanent(e)
	}
	return e
}

// Receive takes what the consumer has ready at once (a no-wait pull of up to
// max); when nothing is ready it long-polls for one message up to fetchWait,
// so a lone message is handed over as soon as it arrives and the next call
// takes the burst behind it. On servers older than 2.10 it polls instead
// (see pollOnly).
func (d *driver) Receive(ctx context.Context, max int) ([]kernel.Envelope, error) {
	gen := d.gen.Load()
	envs, err := d.receive(ctx, max)
	if err != nil && ctx.Err() == nil {
		d.recoverFrom(ctx, err, gen)
	}
	return envs, err
}

func (d *driver) receive(ctx context.Context, max int) ([]kernel.Envelope, error) {
	if d.pollOnly {
		return d.poll(ctx, max)
	}
	envs, err := d.fetchNoWait(ctx, max)
	if len(envs) > 0 || err != nil {
		return envs, err
	}
	b, err := (*d.cons.Load()).Fetch(1, jetstream.FetchMaxWait(d.fetchWait))
	if err != nil {
		return nil, fmt.Errorf("nats: fetch from %s: %w", d.where, err)
	}
	msgs, err := d.collect(ctx, b, 1)
	envs = make([]kernel.Envelope, len(msgs))
	for i, m := range msgs {
		envs[i] = d.wire.envelope(m)
	}
	return envs, err
}

// pollWait bounds the sleep between no-wait pulls on an idle queue of a
// server older than 2.10: it is the latency of a message sent to an idle
// queue there.
const pollWait = 50 * time.Millisecond

// poll repeats no-wait pulls, backing off up to pollWait, until one returns
// messages or fetchWait has passed. Servers before 2.10 can hand a message
// naked at the moment a waiting pull request expires to that expired
// request, where no client reads it: it stays invisible until its AckWait
// runs out. Requests that never wait avoid that.
func (d *driver) poll(ctx context.Context, max int) ([]kernel.Envelope, error) {
	deadline := time.Now().Add(d.fetchWait)
	wait := time.Millisecond
	for {
		envs, err := d.fetchNoWait(ctx, max)
		if len(envs) > 0 || err != nil {
			return envs, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, pollWait)
	}
}

// collect reads a fetch's messages until it ends. When ctx ends first, what
// was read is returned (the kernel releases it) and what the server still
// delivers to the pull request is naked by a drain goroutine that Close
// waits for: abandoning the fetch would leave those messages invisible
// until their AckWait runs out.
func (d *driver) collect(ctx context.Context, b jetstream.MessageBatch, max int) ([]jetstream.Msg, error) {
	msgs := b.Messages()
	var envs []jetstream.Msg
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				if err := b.Error(); err != nil && !benignFetchErr(err) {
					return envs, fmt.Errorf("nats: fetch from %s: %w", d.where, err)
				}
				return envs, nil
			}
			if envs == nil {
				envs = make([]jetstream.Msg, 0, max)
			}
			envs = append(envs, m)
		case <-ctx.Done():
			d.drains.Add(1)
			go func() {
				defer d.drains.Done()
				for m := range msgs {
					_ = m.Nak()
				}
			}()
			return envs, ctx.Err()
		}
	}
}

// benignFetchErr reports the ends of a pull request that are not failures.
func benignFetchErr(err error) bool {
	return errors.Is(err, natsgo.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) ||
		errors.Is(err, context.DeadlineExceeded)
}

// connHandlers report what the client meets on its own (a lost
// connection, a slow subscription) on the kernel's error channel, instead of
// the client's default of printing to stderr.
func (d *driver) connHandlers() []natsgo.Option {
	report := func(err error) {
		if k := d.k.Load(); k != nil {
			k.Report(&kernel.Error{Op: "connection", Err: fmt.Errorf("nats: %s: %w", d.where, err)})
		}
	}
	return []natsgo.Option{
		natsgo.ErrorHandler(func(_ *natsgo.Conn, sub *natsgo.Subscription, err error) {
			if sub != nil {
				err = fmt.Errorf("subscription %s: %w", sub.Subject, err)
			}
			report(err)
		}),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				report(fmt.Errorf("disconnected, reconnecting: %w", err))
			}
		}),
	}
}

// Close waits for the drain goroutines, then releases the connection and
// the embedded server this driver owns.
func (d *driver) Close() error {
	d.closeOnce.Do(func() {
		d.closeConfirmer()
		d.pub.close()
		d.pre.release()
		d.drains.Wait()
		d.js.CleanupPublisher()
		if d.ownConn {
			d.nc.Close()
		}
		if d.release != nil {
			d.release()
		}
	})
	return nil
}
