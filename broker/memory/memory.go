// Package memory is the in-process broker: the embedded default for programs
// that need no infrastructure, and the test double for applications' unit
// tests.
//
// It honours the semantics of the network brokers: queues are named and
// shared by every broker opened with that name in the process (competing
// consumers), messages are delivered in order, a delivery holds a lease and
// is redelivered with a higher attempt count when it is failed or its lease
// runs out, and after the kernel's maximum attempts it moves to the queue's
// dead-letter queue. Queues live as long as the process, not the broker, so
// a consumer that closes and reopens finds what it left. Nothing survives
// the process.
//
// Importing the package registers the URL scheme mem, so
// swarm.Open("mem://orders") opens the queue "orders". The query sets the
// options: capacity (WithQueueCapacity), max_payload (WithMaxPayload), dlq
// (WithDeadLetterQueue) and encoding=false (WithoutEncoding).
package memory

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// Option configures a memory broker.
type Option func(*config)

type config struct {
	kernel     []swarm.Option
	capacity   int
	maxPayload int
	deadLetter string
	values     bool
}

// WithKernel sets the kernel options (policy, capacities, retries, ...).
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) { c.kernel = append(c.kernel, opts...) }
}

// WithQueueCapacity bounds the messages a queue holds (ready, delayed and in
// flight; default 65,536). Emitters wait while it is full, so a slow consumer
// bounds the memory a producer can fill. It takes effect
// when the queue is first opened in the process.
func WithQueueCapacity(n int) Option {
	return func(c *config) { c.capacity = n }
}

// WithMaxPayload sets the largest payload accepted (default 1 MiB); larger
// messages go to the emitter's dead-letter channel with swarm.ErrTooLarge.
func WithMaxPayload(n int) Option {
	return func(c *config) { c.maxPayload = n }
}

// WithDeadLetterQueue names the queue that receives dead letters (default:
// the queue's name with ".dlq" appended). Open a broker on it to read them.
func WithDeadLetterQueue(name string) Option {
	return func(c *config) { c.deadLetter = name }
}

// WithoutEncoding makes the broker's typed emitters (emit.Typed,
// emit.Event, emit.NewTyped) hand their values over as they are, and
// listeners of the same type take them as they are: nothing is encoded or
// decoded on the way, which is most of an in-process message's cost.
//
// A value is then shared as over a Go channel: slices, maps and pointers in
// it belong to the sender and to every delivery of it, redeliveries
// included, so no side may modify them after the send. A listener of
// another type, or of octets (listen.Bytes), still gets the payload the
// emitter's codec gives the value. Nothing a network broker would refuse is
// caught: a value that does not encode, or one over WithMaxPayload.
//
// Use it for an in-process event bus. Keep the default in tests that stand
// in for a network broker, where the encoding is part of what they test.
func WithoutEncoding() Option {
	return func(c *config) { c.values = true }
}

// Broker is a connection to a named in-process queue. It is safe for
// concurrent use.
type Broker struct {
	k *kernel.Kernel
}

// New opens the in-process queue name, creating it on first use. It fails
// with swarm.ErrConfig when an option is invalid.
func New(name string, opts ...Option) (*Broker, error) {
	c := config{capacity: 1 << 16, maxPayload: 1 << 20}
	for _, opt := range opts {
		opt(&c)
	}
	if name == "" {
		return nil, fmt.Errorf("%w: memory: queue name is empty", swarm.ErrConfig)
	}
	if c.capacity < 1 || c.maxPayload < 1 {
		return nil, fmt.Errorf("%w: memory: queue capacity %d and max payload %d must be positive",
			swarm.ErrConfig, c.capacity, c.maxPayload)
	}
	if c.deadLetter == "" {
		c.deadLetter = name + ".dlq"
	}
	if c.deadLetter == name {
		return nil, fmt.Errorf("%w: memory: dead-letter queue %q is the queue itself", swarm.ErrConfig, name)
	}
	cfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	d := &driver{
		q:          open(name, c.capacity),
		dlq:        open(c.deadLetter, c.capacity),
		lease:      cfg.TimeToFlight,
		maxPayload: c.maxPayload,
		values:     c.values,
	}
	return &Broker{k: kernel.New(cfg, "mem://"+name, d)}, nil
}

// Close flushes, releases unsettled deliveries to the queue at once and
// closes the broker's channels. The queue and its messages stay.
func (b *Broker) Close() error { return b.k.Close() }

// Kernel returns the kernel running the broker's channels.
func (b *Broker) Kernel() *kernel.Kernel { return b.k }

func init() {
	swarm.Register("mem", func(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
		name, bopts, err := parseURL(u)
		if err != nil {
			return nil, err
		}
		return New(name, append(bopts, WithKernel(opts...))...)
	})
}

// parseURL reads mem://name?capacity=n&max_payload=n&dlq=name&encoding=false
// into the queue name and the options the query names; an unknown key or a
// malformed value is an error rather than a setting silently ignored.
func parseURL(u *url.URL) (string, []Option, error) {
	name := u.Host + strings.TrimPrefix(u.Path, "/")
	if u.Host != "" && u.Path != "" {
		name = u.Host + u.Path
	}
	var opts []Option
	for key, vs := range u.Query() {
		v := vs[len(vs)-1]
		bad := func(want string) error {
			return fmt.Errorf("%w: memory: URL mem://%s: %s=%q, want %s", swarm.ErrConfig, name, key, v, want)
		}
		switch key {
		case "capacity", "max_payload":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return "", nil, bad("a positive number")
			}
			if key == "capacity" {
				opts = append(opts, WithQueueCapacity(n))
			} else {
				opts = append(opts, WithMaxPayload(n))
			}
		case "dlq":
			opts = append(opts, WithDeadLetterQueue(v))
		case "encoding":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return "", nil, bad("true or false")
			}
			if !on {
				opts = append(opts, WithoutEncoding())
			}
		default:
			return "", nil, fmt.Errorf("%w: memory: URL mem://%s: unknown parameter %q (want capacity, max_payload, dlq or encoding)",
				swarm.ErrConfig, name, key)
		}
	}
	return name, opts, nil
}

// driver is the kernel's port onto a queue.
type driver struct {
	q, dlq     *queue
	lease      time.Duration
	maxPayload int
	values     bool
}

func (d *driver) Capabilities() kernel.Capabilities {
	return kernel.Capabilities{
		Ordered:        true,
		Redelivery:     true,
		Delay:          true,
		ConsumerGroups: true,
		LongPoll:       true,
		MaxBatch:       256,
		MaxPayload:     d.maxPayload,
		Lease:          d.lease,
		Values:         d.values,
	}
}

func (d *driver) Send(ctx context.Context, batch []kernel.Envelope) []error {
	n, err := d.q.put(ctx, batch)
	if err == nil {
		return nil
	}
	errs := make([]error, len(batch))
	for i := n; i < len(batch); i++ {
		errs[i] = fmt.Errorf("memory %s is full: %w", d.q.name, err)
	}
	return errs
}

// receiveWait is how long Receive waits for a first message; the kernel
// calls again at once, so it only bounds how stale a stop can be.
const receiveWait = 250 * time.Millisecond

func (d *driver) Receive(ctx context.Context, max int) ([]kernel.Envelope, error) {
	return d.q.take(ctx, max, d.lease, receiveWait), nil
}

func (d *driver) Ack(_ context.Context, handles []any) error {
	d.q.settle(handles, func(*item) {}, nil)
	return nil
}

func (d *driver) Nack(_ context.Context, handles []any, delay time.Duration) error {
	d.q.release(handles, delay)
	return nil
}

func (d *driver) Extend(_ context.Context, handles []any, lease time.Duration) error {
	deadline := time.Now().Add(lease)
	d.q.mu.Lock()
	defer d.q.mu.Unlock()
	for _, h := range handles {
		if dv, ok := h.(*delivery); ok && dv.it.token == dv.token {
			dv.it.deadline = deadline
		}
	}
	return nil
}

func (d *driver) DeadLetter(ctx context.Context, handles []any) error {
	var envs []kernel.Envelope
	d.q.settle(handles, func(it *item) { envs = append(envs, it.env) }, nil)
	if len(envs) == 0 {
		return nil
	}
	_, err := d.dlq.put(ctx, envs)
	return err
}
