// Package lambda turns AWS Lambda event sources into swarm listeners: the
// same listen.Typed loop that runs against a queue runs inside a function.
//
//	q, _ := lambda.NewSQS()
//	deq, ack := listen.Typed[Order](q)
//	go func() { for msg := range deq { handle(msg.Object); ack <- msg } }()
//	awslambda.Start(q.Handler())
//
// Each invocation hands its records to the kernel as one batch of
// deliveries. The handler returns once every record is acked or failed, or
// when the function's deadline is near (then the unsettled ones count as
// failed), and only after every emit made meanwhile, to any swarm broker of
// the process, has been confirmed (kernel.FlushAll): the runtime may freeze
// the process as soon as the handler returns, and nothing emitted is lost
// to that freeze.
//
// Settlement per source: SQS, Kinesis and DynamoDB Streams report failed
// records as batch item failures (enable ReportBatchItemFailures on the
// event source mapping); EventBridge and S3 fail the invocation on the first
// failed record (fail fast: the source retries the event); API Gateway
// WebSocket answers each request with its own status.
package lambda

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// Option configures an event-source listener.
type Option func(*config)

type config struct {
	kernel   []swarm.Option
	margin   time.Duration
	category string
}

// WithKernel sets the kernel options (policy, capacities, ...).
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) { c.kernel = append(c.kernel, opts...) }
}

// WithDeadlineMargin sets how long before the function's deadline the
// handler stops waiting for unsettled records, reports them as failed and
// returns (default 500ms). It must leave time to flush emits.
func WithDeadlineMargin(d time.Duration) Option {
	return func(c *config) { c.margin = d }
}

// WithCategory sets the category of records that carry none: every record
// of DynamoDB Streams and S3, SQS messages without the swarm-category
// attribute, and Kinesis records not written by swarm.
func WithCategory(name string) Option {
	return func(c *config) { c.category = name }
}

// Broker is a listener fed by Lambda invocations. Use the constructor of
// its source (NewSQS, NewEventBridge, ...) and pass its Handler to
// lambda.Start. It is safe for concurrent use, and concurrent invocations
// (as tests make) are kept apart.
type Broker struct {
	k *kernel.Kernel
	d *driver
}

// Close stops the listeners and closes their channels.
func (b *Broker) Close() error { return b.k.Close() }

// Kernel returns the kernel running the broker's channels.
func (b *Broker) Kernel() *kernel.Kernel { return b.k }

func newBroker(source, defaultCategory string, opts []Option) (*Broker, config, error) {
	c := config{margin: 500 * time.Millisecond, category: defaultCategory}
	for _, opt := range opts {
		opt(&c)
	}
	if c.margin < 0 {
		return nil, c, fmt.Errorf("%w: lambda: deadline margin %v is negative", swarm.ErrConfig, c.margin)
	}
	cfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, c, fmt.Errorf("lambda: %w", err)
	}
	d := &driver{inbox: make(chan kernel.Envelope, cfg.AckCapacity)}
	return &Broker{k: kernel.New(cfg, "lambda://"+source, d), d: d}, c, nil
}

// invocation is the settlement state of one invocation's records.
type invocation struct {
	mu       sync.Mutex
	status   []int8 // 0 pending, 1 acked, -1 failed
	pending  int
	finished bool
	settled  chan struct{} // closed when nothing is pending
	failed   chan struct{} // closed at the first failure
}

func (inv *invocation) settle(i int, ok bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.finished || inv.status[i] != 0 {
		return
	}
	if ok {
		inv.status[i] = 1
	} else {
		inv.status[i] = -1
		select {
		case <-inv.failed:
		default:
			close(inv.failed)
		}
	}
	inv.pending--
	if inv.pending == 0 {
		close(inv.settled)
	}
}

type handle struct {
	inv *invocation
	i   int
}

// invoke runs one invocation's records through the kernel and returns the
// positions that were not acked. With failFast it returns at the first
// failure. It always flushes the process's emits before returning.
func (b *Broker) invoke(ctx context.Context, envs []kernel.Envelope, margin time.Duration, failFast bool) ([]int, error) {
	inv := &invocation{
		status:  make([]int8, len(envs)),
		pending: len(envs),
		settled: make(chan struct{}),
		failed:  make(chan struct{}),
	}
	if len(envs) == 0 {
		close(inv.settled)
	}
	wait, cancel := context.WithCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		wait, cancel = context.WithDeadline(ctx, deadline.Add(-margin))
	}
	defer cancel()

	go func() {
		for i := range envs {
			envs[i].Handle = &handle{inv, i}
			select {
			case b.d.inbox <- envs[i]:
			case <-wait.Done():
				return
			}
		}
	}()
	var failFastCh <-chan struct{}
	if failFast {
		failFastCh = inv.failed
	}
	select {
	case <-inv.settled:
	case <-failFastCh:
	case <-wait.Done():
	case <-b.k.Closing():
	}

	inv.mu.Lock()
	inv.finished = true
	var unacked []int
	for i, s := range inv.status {
		if s != 1 {
			unacked = append(unacked, i)
		}
	}
	inv.mu.Unlock()

	// Emits made while handling must be confirmed before the runtime may
	// freeze the process.
	if err := kernel.FlushAll(ctx); err != nil {
		return unacked, fmt.Errorf("swarm: flushing emits before returning: %w", err)
	}
	return unacked, nil
}

// driver is the kernel's port onto invocations: Receive yields their
// records, settlement marks them.
type driver struct {
	inbox chan kernel.Envelope
}

func (d *driver) Capabilities() kernel.Capabilities {
	// Delay: a failed record is reported at once and the source applies
	// its own retry delay; the kernel must not hold it for its backoff,
	// which would keep the invocation waiting.
	return kernel.Capabilities{Redelivery: true, Delay: true, LongPoll: true, MaxBatch: 100}
}

// Receive waits for the first record and takes what else is ready. Records
// of invocations that already returned are dropped: they are reported as
// failed and the source delivers them again.
func (d *driver) Receive(ctx context.Context, max int) ([]kernel.Envelope, error) {
	var out []kernel.Envelope
	take := func(env kernel.Envelope) {
		h := env.Handle.(*handle)
		h.inv.mu.Lock()
		live := !h.inv.finished
		h.inv.mu.Unlock()
		if live {
			out = append(out, env)
		}
	}
	select {
	case env := <-d.inbox:
		take(env)
	case <-ctx.Done():
		return nil, nil
	case <-time.After(time.Second):
		return nil, nil
	}
	for len(out) < max {
		select {
		case env := <-d.inbox:
			take(env)
		default:
			return out, nil
		}
	}
	return out, nil
}

func (d *driver) settle(handles []any, ok bool) {
	for _, h := range handles {
		if h, is := h.(*handle); is {
			h.inv.settle(h.i, ok)
		}
	}
}

func (d *driver) Ack(_ context.Context, handles []any) error {
	d.settle(handles, true)
	return nil
}

// Nack fails records: the event source delivers them again by its own
// retry policy (the delay is the source's, not the kernel's).
func (d *driver) Nack(_ context.Context, handles []any, _ time.Duration) error {
	d.settle(handles, false)
	return nil
}

// DeadLetter fails records too: the source's own dead-letter destination
// (an SQS redrive policy, an on-failure destination) takes them after its
// retries.
func (d *driver) DeadLetter(_ context.Context, handles []any) error {
	d.settle(handles, false)
	return nil
}
