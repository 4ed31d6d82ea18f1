// Package eventbridge is the Amazon EventBridge emitter of swarm, on
// aws-sdk-go-v2. It is one-way: events go to an event bus, whose rules
// route them to targets (SQS, Lambda, ...) that other brokers or handlers
// read.
//
//	q, err := eventbridge.NewEmitter(eventbridge.WithSource("com.example.orders"))
//	enq, dlq := emit.Typed[OrderPlaced](q)
//
// Each message becomes one event: DetailType is its category, Source the
// configured source, Detail the encoded message, which must be a JSON
// object (the JSON codec, the default, makes one from a struct). Events go
// out with PutEvents, up to 10 entries and 256 KiB per call; entries that
// fail alone (FailedEntryCount) are retried alone by the kernel. EventBridge
// events carry no attributes and get their own id, so a message's id and
// attributes are not sent.
//
// Importing the package registers the URL scheme eventbridge:
//
//	eventbridge://default?source=com.example   bus default, AWS endpoint
//	eventbridge://orders-bus?region=eu-west-1
//	eventbridge://127.0.0.1:4010/orders-bus    bus at that endpoint (tests)
package eventbridge

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/internal/awsconf"
	"github.com/swarm-go/swarm/kernel"
)

// Emitter puts events on one event bus. It is safe for concurrent use.
type Emitter struct {
	k *kernel.Kernel
	d *driver
}

// Close flushes the emits already handed over and closes the channels.
func (e *Emitter) Close() error { return e.k.Close() }

// Kernel returns the kernel running the emitter's channels.
func (e *Emitter) Kernel() *kernel.Kernel { return e.k }

// Client is the EventBridge client the emitter uses, for calls swarm does
// not make.
func (e *Emitter) Client() *eventbridge.Client { return e.d.c }

// NewEmitter opens an emitter onto the event bus of WithEventBus (default
// "default"). It loads the AWS configuration (config.LoadDefaultConfig) but
// makes no call: a missing bus or permission shows on the first emit. It
// fails with swarm.ErrConfig for a bad option; no error holds a credential.
func NewEmitter(opts ...Option) (*Emitter, error) {
	c := defaults()
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	kcfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("eventbridge: %w", err)
	}
	conn, err := c.Load("eventbridge")
	if err != nil {
		return nil, err
	}
	client := eventbridge.NewFromConfig(conn.Config, func(o *eventbridge.Options) { o.BaseEndpoint = c.BaseEndpoint() })
	d := &driver{c: client, http: conn.HTTP, cfg: c, where: "eventbridge://" + conn.Host + "/" + busName(c.bus)}
	return &Emitter{k: kernel.New(kcfg, d.where, d), d: d}, nil
}

// busName is the name of a bus given by name or ARN, for messages.
func busName(bus string) string {
	return bus[strings.LastIndexByte(bus, '/')+1:]
}

func (c *config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: eventbridge bus %s: %s", swarm.ErrConfig, c.bus, fmt.Sprintf(format, args...))
	}
	switch {
	case c.bus == "" || len(c.bus) > 1600:
		return bad("event bus name is empty or longer than 1600 characters")
	case c.source == "" || len(c.source) > 256:
		return bad("source %q is empty or longer than 256 characters", c.source)
	case strings.HasPrefix(c.source, "aws."):
		return bad("source %q: sources starting with aws. are reserved by AWS", c.source)
	case c.requestTimeout <= 0:
		return bad("request timeout is %v, want a positive duration", c.requestTimeout)
	case c.sendConcurrency < 1 || c.sendConcurrency > 64:
		return bad("send concurrency is %d, want 1 to 64", c.sendConcurrency)
	}
	return c.Settings.Validate("eventbridge bus " + c.bus)
}

func init() {
	swarm.Register("eventbridge", func(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
		return Open(u, WithKernel(opts...))
	})
}

// Open opens an emitter onto the bus an eventbridge:// URL names (see the
// package documentation), with opts applied after the URL's settings. The
// query takes source, region, tls and concurrency.
func Open(u *url.URL, opts ...Option) (*Emitter, error) {
	t, err := awsconf.ParseURL(u, "eventbridge")
	if err != nil {
		return nil, err
	}
	pre := []Option{func(c *config) { t.Apply(&c.Settings) }}
	if t.Name != "" {
		pre = append(pre, WithEventBus(t.Name))
	}
	q := u.Query()
	if s := q.Get("source"); s != "" {
		pre = append(pre, WithSource(s))
	}
	if s := q.Get("concurrency"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%w: eventbridge: concurrency=%q is not a number", swarm.ErrConfig, s)
		}
		pre = append(pre, WithSendConcurrency(n))
	}
	return NewEmitter(append(pre, opts...)...)
}
