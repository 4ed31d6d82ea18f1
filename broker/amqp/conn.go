package amqp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// link is one connection and what was set up on it: the publishing channel
// (in confirm mode, on the publishing connection only) and the queues
// declared. A new link replaces it when the connection drops.
type link struct {
	conn      *amqp091.Connection
	pub       atomic.Pointer[pubChannel] // nil on the consuming connection
	nativeDLX bool                       // the queue has our x-dead-letter arguments

	mu       sync.Mutex
	declared map[string]time.Time // queue -> last declared, for lazily declared queues
	returned map[string]bool      // ids of messages returned unroutable, not yet claimed
	// unblocked is non-nil while the server blocks this connection's
	// publishes (connection.blocked: a memory or disk alarm), and closed
	// when it lets them through again.
	unblocked chan struct{}
	blockedBy string
}

// usable reports whether l's connection, and its publishing channel if it
// has one, are open.
func (l *link) usable() bool {
	if l == nil || l.conn.IsClosed() {
		return false
	}
	pc := l.pub.Load()
	return pc == nil || !pc.ch.IsClosed()
}

// linker keeps one connection of the driver alive. The driver has two, as
// RabbitMQ advises: one that publishes and one that consumes, so that a
// publisher blocked by a resource alarm never holds up the acks that would
// relieve it.
type linker struct {
	d    *driver
	role string // "publish" or "consume"

	link atomic.Pointer[link]
	// sem serializes reconnects (a channel, so waiting honours ctx); it
	// guards next, failures and retryAt.
	sem      chan struct{}
	next     int
	failures int
	retryAt  time.Time
}

func newLinker(d *driver, role string) *linker {
	return &linker{d: d, role: role, sem: make(chan struct{}, 1)}
}

// redeclareAfter is how long a lazily declared queue is trusted to exist:
// delay queues expire when unused (x-expires), so they are declared again
// well before that.
const redeclareAfter = time.Minute

// delayQueueIdle is how long a delay queue outlives its TTL when unused.
const delayQueueIdle = 10 * time.Minute

// current returns the live link, reconnecting (with backoff) when there is
// none. It fails with errClosed once the driver is closed.
func (k *linker) current(ctx context.Context) (*link, error) {
	if l := k.link.Load(); l.usable() {
		return l, nil
	}
	d := k.d
	select {
	case k.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.done:
		return nil, errClosed
	}
	defer func() { <-k.sem }()
	if d.isClosed() {
		return nil, errClosed
	}
	l := k.link.Load()
	if l.usable() {
		return l, nil
	}
	if l != nil && !l.conn.IsClosed() {
		// A channel error (not a connection loss) closed the publishing
		// channel: a new one on the same connection will do.
		if err := l.openPub(); err == nil {
			return l, nil
		}
		_ = l.conn.Close()
	}
	if wait := time.Until(k.retryAt); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-d.done:
			return nil, errClosed
		}
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(d.life, cancel)()
	l, err := k.connect(dctx)
	if err != nil {
		k.failures++
		step := min(d.cfg.backoffMin<<min(k.failures-1, 20), d.cfg.backoffMax)
		k.retryAt = time.Now().Add(step/2 + rand.N(step/2+1))
		return nil, err
	}
	k.failures = 0
	k.link.Store(l)
	if d.isClosed() { // Close ran while we dialed: it cannot have closed l
		_ = l.conn.Close()
		return nil, errClosed
	}
	return l, nil
}

// close closes the connection, waiting for a reconnect in progress.
func (k *linker) close() {
	k.sem <- struct{}{}
	defer func() { <-k.sem }()
	if l := k.link.Load(); l != nil && !l.conn.IsClosed() {
		// A blocked connection is not read by the server, which would never
		// answer the close handshake: cut it short.
		wait := 5 * time.Second
		if l.isBlocked() {
			wait = 100 * time.Millisecond
		}
		_ = l.conn.CloseDeadline(time.Now().Add(wait))
	}
}

// connect dials a server, declares the queue and, on the publishing
// connection, opens the publishing channel.
func (k *linker) connect(ctx context.Context) (*link, error) {
	d := k.d
	var conn *amqp091.Connection
	var err error
	if d.cfg.dial != nil {
		conn, err = d.cfg.dial(ctx)
		if err != nil {
			return nil, fmt.Errorf("connect: %w", scrub(err, d.secrets...))
		}
	} else {
		var errs []error
		for range d.targets {
			t := d.targets[k.next%len(d.targets)]
			conn, err = d.dial(ctx, t, k.role)
			if err == nil {
				break
			}
			errs = append(errs, err)
			k.next++
		}
		if conn == nil {
			return nil, errors.Join(errs...)
		}
	}
	l := &link{conn: conn, declared: map[string]time.Time{}, returned: map[string]bool{}}
	native, err := d.declare(conn, d.queue, d.queueArgs(d.queue, d.dlq))
	if err == nil {
		l.nativeDLX = native
		if k.role == "publish" {
			err = l.openPub()
			go l.watchBlocked(conn.NotifyBlocked(make(chan amqp091.Blocking, 4)))
		}
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if !native && k.role == "publish" {
		d.logger.Warn("swarm amqp: queue exists with other arguments; dead letters are republished to the dead-letter queue",
			"queue", d.queue, "dead-letter queue", d.dlq)
	}
	return l, nil
}

// dial opens one connection to t, bounded by ctx and the dial timeout.
// Errors name the server, never its password.
func (d *driver) dial(ctx context.Context, t target, role string) (*amqp091.Connection, error) {
	timeout := d.cfg.dialTimeout
	if t.uri.ConnectionTimeout > 0 {
		timeout = time.Duration(t.uri.ConnectionTimeout) * time.Millisecond
	}
	props := amqp091.NewConnectionProperties()
	props.SetClientConnectionName("swarm " + role + " " + d.queue)
	cfg := amqp091.Config{Heartbeat: d.cfg.heartbeat, Properties: props, Locale: "en_US"}
	if d.cfg.credentials {
		cfg.SASL = []amqp091.Authentication{&amqp091.PlainAuth{Username: d.cfg.user, Password: d.cfg.pass}}
	}
	if d.cfg.tls != nil {
		cfg.TLSClientConfig = d.cfg.tls.Clone() // the client writes ServerName into it
	}
	var mu sync.Mutex
	var raw net.Conn
	cfg.Dial = func(network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		// Bounds TLS and the AMQP handshake; the client clears it after.
		_ = c.SetDeadline(time.Now().Add(timeout))
		mu.Lock()
		raw = c
		mu.Unlock()
		return c, nil
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if raw != nil {
			_ = raw.Close()
		}
	})
	conn, err := amqp091.DialConfig(t.url, cfg)
	if !stop() && err == nil {
		_ = conn.Close()
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", t.redacted, scrub(err, d.secrets...))
	}
	return conn, nil
}

// watchBlocked follows connection.blocked/unblocked until the connection
// closes (which closes bs).
func (l *link) watchBlocked(bs <-chan amqp091.Blocking) {
	for b := range bs {
		l.mu.Lock()
		switch {
		case b.Active && l.unblocked == nil:
			l.unblocked, l.blockedBy = make(chan struct{}), b.Reason
		case !b.Active && l.unblocked != nil:
			close(l.unblocked)
			l.unblocked = nil
		}
		l.mu.Unlock()
	}
	l.mu.Lock()
	if l.unblocked != nil {
		close(l.unblocked)
		l.unblocked = nil
	}
	l.mu.Unlock()
}

// isBlocked reports whether the server blocks this connection's publishes.
func (l *link) isBlocked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unblocked != nil
}

// waitUnblocked waits while the server blocks publishes, so that a publish
// never sits in a socket write that ctx cannot interrupt.
func (l *link) waitUnblocked(ctx context.Context) error {
	l.mu.Lock()
	ch, why := l.unblocked, l.blockedBy
	l.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the server blocks publishers (%s): %w", why, ctx.Err())
	}
}

func (l *link) openPub() error {
	ch, err := l.conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	pc := &pubChannel{ch: ch, returns: ch.NotifyReturn(make(chan amqp091.Return, returnsBuffer))}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	l.pub.Store(pc)
	return nil
}

// queueArgs are the arguments of a queue this broker declares: the user's,
// and dead letters routed (by the default exchange) to dlq.
func (d *driver) queueArgs(queue, dlq string) amqp091.Table {
	args := amqp091.Table{}
	for k, v := range d.cfg.queueArgs {
		args[k] = v
	}
	args["x-dead-letter-exchange"] = ""
	args["x-dead-letter-routing-key"] = dlq
	return args
}

// declare declares a durable queue with args on a channel of its own (a
// failed declaration closes its channel). When the queue exists with other
// arguments (PRECONDITION_FAILED) or the user may not configure it
// (ACCESS_REFUSED, a queue provisioned by operators), it is used as it is
// and declare reports false: its dead-letter arguments are not known ours.
func (d *driver) declare(conn *amqp091.Connection, queue string, args amqp091.Table) (bool, error) {
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open channel: %w", err)
	}
	_, err = ch.QueueDeclare(queue, true, false, false, false, args)
	_ = ch.Close()
	var ae *amqp091.Error
	if err == nil {
		return true, nil
	}
	if !errors.As(err, &ae) || (ae.Code != amqp091.PreconditionFailed && ae.Code != amqp091.AccessRefused) {
		return false, fmt.Errorf("declare queue %q: %w", queue, err)
	}
	ch, err = conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil); err != nil {
		return false, fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return false, nil
}

// ensure declares a queue the broker uses lazily (dead-letter and delay
// queues), at most once per redeclareAfter on a link.
func (d *driver) ensure(l *link, queue string, args amqp091.Table) error {
	l.mu.Lock()
	at, ok := l.declared[queue]
	l.mu.Unlock()
	if ok && time.Since(at) < redeclareAfter {
		return nil
	}
	now := time.Now()
	if _, err := d.declare(l.conn, queue, args); err != nil {
		return err
	}
	l.mu.Lock()
	l.declared[queue] = now
	l.mu.Unlock()
	return nil
}

// delayQueue returns the delay queue for delay, declared: its TTL is delay
// rounded up to a power of two milliseconds, after which the server
// dead-letters its messages back to the queue. One TTL per queue keeps
// expiry in order (a classic queue expires messages at its head only).
func (d *driver) delayQueue(l *link, delay time.Duration) (string, error) {
	ms := int64(1)
	for ms < delay.Milliseconds() && ms < 1<<31 {
		ms <<= 1
	}
	name := fmt.Sprintf("%s.delay.%d", d.queue, ms)
	args := amqp091.Table{
		"x-message-ttl":             ms,
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": d.queue,
		"x-expires":                 ms + delayQueueIdle.Milliseconds(),
	}
	return name, d.ensure(l, name, args)
}
