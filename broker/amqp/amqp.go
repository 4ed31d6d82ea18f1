// Package amqp is the RabbitMQ (AMQP 0.9.1) broker of swarm, on
// github.com/rabbitmq/amqp091-go.
//
// A broker is one durable queue, declared when the broker opens, with a
// dead-letter queue "<queue>.dlq" (x-dead-letter-exchange) where rejected
// messages land. Messages are persistent and published with publisher
// confirms, a batch at a time; a consumer with a prefetch equal to the
// kernel's in-flight bound receives them. Category, id and attributes travel
// as the Type, MessageId and Headers properties.
//
// Failed messages are republished with their attempt count in a header (a
// classic queue counts nothing itself), through a delay queue
// "<queue>.delay.<ms>" whose TTL sends them back after the redelivery
// backoff, and the original is acked once the copy is confirmed. The
// connection is re-established with backoff when it drops; deliveries of a
// dead channel are never settled (their tags died with it): the server
// redelivers them.
//
// Importing the package registers the URL schemes amqp and amqps:
// swarm.Open("amqp://guest:guest@127.0.0.1:5672/orders") opens the queue
// "orders" on the default vhost; "amqp://host/vh/orders" uses vhost "vh".
package amqp

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// Broker is a connection to one RabbitMQ queue, for emitting and listening.
// It is a swarm.Broker and safe for concurrent use.
type Broker struct {
	k *kernel.Kernel
}

var _ swarm.Broker = (*Broker)(nil)

// New connects to the server (WithURL, default DefaultURL), declares queue
// and returns the broker. It fails with swarm.ErrConfig when an option or
// the queue name is invalid, and with the connection error (naming the
// server, never its password) when the server cannot be reached.
func New(queue string, opts ...Option) (*Broker, error) {
	c := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	if err := checkQueue(queue); err != nil {
		c.errs = append(c.errs, err)
	}
	if c.deadLetter == "" {
		c.deadLetter = queue + ".dlq"
	}
	if c.deadLetter == queue {
		c.fail("dead-letter queue %q is the queue itself", queue)
	}
	targets, err := c.parseTargets()
	if err != nil {
		c.errs = append(c.errs, err)
	}
	if len(c.errs) > 0 {
		return nil, fmt.Errorf("%w: amqp: %w", swarm.ErrConfig, c.errs[0])
	}
	cfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("amqp: %w", err)
	}
	if c.prefetch == 0 {
		c.prefetch = min(cfg.AckCapacity, 65535)
	}
	d := newDriver(c, targets, queue)
	d.logger = cfg.Logger
	if err := d.start(); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("amqp: open queue %q: %w", queue, err)
	}
	name := "amqp queue " + queue
	if c.dial == nil {
		name = targets[0].redacted + " queue " + queue
	}
	return &Broker{k: kernel.New(cfg, name, d)}, nil
}

// checkQueue rejects names the server would refuse: empty, reserved, or too
// long for the names derived from them.
func checkQueue(q string) error {
	switch {
	case q == "":
		return fmt.Errorf("queue name is empty")
	case strings.HasPrefix(q, "amq."):
		return fmt.Errorf("queue name %q uses the reserved prefix amq.", q)
	case len(q)+len(".delay.2147483648") > 255:
		return fmt.Errorf("queue name %q is too long: at most %d bytes", q, 255-len(".delay.2147483648"))
	}
	return nil
}

// Close flushes emits, releases unsettled deliveries back to the queue,
// closes the broker's channels and its connections. The queue and its
// messages stay on the server.
func (b *Broker) Close() error { return b.k.Close() }

// Kernel returns the kernel running the broker's channels.
func (b *Broker) Kernel() *kernel.Kernel { return b.k }

func init() {
	open := func(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
		server, queue, err := splitURL(u)
		if err != nil {
			return nil, err
		}
		return New(queue, WithURL(server), WithKernel(opts...))
	}
	swarm.Register("amqp", open)
	swarm.Register("amqps", open)
}

// splitURL takes the queue from the last path segment of u; the segments
// before it, if any, are the vhost (percent-encoded, so "%2F" is "/").
// It returns the server URL without the queue.
func splitURL(u *url.URL) (server, queue string, err error) {
	segs := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	last := segs[len(segs)-1]
	queue, err = url.PathUnescape(last)
	if err != nil || queue == "" {
		return "", "", fmt.Errorf("%w: amqp: URL %s names no queue: want %s://host/queue or %s://host/vhost/queue",
			swarm.ErrConfig, redactURL(u), u.Scheme, u.Scheme)
	}
	s := *u
	s.Path, s.RawPath = "/", ""
	if vh := strings.Join(segs[:len(segs)-1], "/"); vh != "" {
		vhost, err := url.PathUnescape(vh)
		if err != nil {
			return "", "", fmt.Errorf("%w: amqp: URL %s has a bad vhost: %v", swarm.ErrConfig, redactURL(u), err)
		}
		s.Path, s.RawPath = "/"+vhost, "/"+url.PathEscape(vhost)
	}
	return s.String(), queue, nil
}

func redactURL(u *url.URL) string {
	s := *u
	s.User = nil
	return s.String()
}
