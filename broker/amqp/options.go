package amqp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/swarm-go/swarm"
)

// DefaultURL is the server New connects to when no WithURL is given: the
// local RabbitMQ with its stock guest account.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// DefaultMaxPayload is RabbitMQ's default max_message_size (128 MiB).
const DefaultMaxPayload = 128 << 20

// Option configures an AMQP broker. Options are checked by New, which fails
// with swarm.ErrConfig naming the setting when one is invalid.
type Option func(*config)

type config struct {
	kernel []swarm.Option

	urls        []string
	tls         *tls.Config
	user, pass  string
	credentials bool
	dial        func(ctx context.Context) (*amqp091.Connection, error)
	dialTimeout time.Duration
	heartbeat   time.Duration
	backoffMin  time.Duration
	backoffMax  time.Duration

	prefetch    int
	queueArgs   map[string]any
	deadLetter  string
	delayQueues bool
	maxPayload  int
	receiveWait time.Duration

	errs []error
}

func defaultConfig() config {
	return config{
		urls:        []string{DefaultURL},
		dialTimeout: 10 * time.Second,
		backoffMin:  100 * time.Millisecond,
		backoffMax:  2 * time.Second,
		delayQueues: true,
		maxPayload:  DefaultMaxPayload,
		receiveWait: 500 * time.Millisecond,
	}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// WithKernel sets the kernel options (policy, capacities, retries,
// redelivery backoff, error channel, ...).
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) { c.kernel = append(c.kernel, opts...) }
}

// WithURL sets the server URLs, amqp://user:pass@host:port/vhost or amqps://
// (default DefaultURL). With several, each (re)connect tries them in turn,
// so a cluster's nodes can all be listed. The password in a URL is never
// logged nor put in an error.
func WithURL(urls ...string) Option {
	return func(c *config) {
		if len(urls) == 0 {
			c.fail("WithURL: no URL given")
		}
		for _, u := range urls {
			if u == "" {
				c.fail("WithURL: empty URL")
			}
		}
		c.urls = append([]string(nil), urls...)
	}
}

// WithTLS connects over TLS with cfg; an amqp:// URL is treated as amqps://
// (port 5671 unless the URL names one). A nil cfg means a default TLS
// config with TLS 1.2 or later.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) {
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c.tls = cfg
	}
}

// WithCredentials sets the user name and password (PLAIN), overriding those
// of the URL. They are never logged nor put in an error.
func WithCredentials(user, password string) Option {
	return func(c *config) {
		if user == "" {
			c.fail("WithCredentials: empty user name")
		}
		c.user, c.pass, c.credentials = user, password, true
	}
}

// WithConnection makes the broker call dial for every (re)connect instead of
// dialing the URLs itself: the escape hatch for what the options do not
// cover (another SASL mechanism, a custom transport, rotating secrets). The
// broker owns and closes the connections dial returns.
func WithConnection(dial func(ctx context.Context) (*amqp091.Connection, error)) Option {
	return func(c *config) {
		if dial == nil {
			c.fail("WithConnection: nil dial function")
		}
		c.dial = dial
	}
}

// WithDialTimeout bounds connecting, TLS and the AMQP handshake (default 10s).
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) { c.dialTimeout = positive(c, "WithDialTimeout", d) }
}

// WithHeartbeat sets the AMQP heartbeat interval, which bounds how long a
// dead connection goes unnoticed (default 10s, the client's; a heartbeat
// in the URL wins).
func WithHeartbeat(d time.Duration) Option {
	return func(c *config) { c.heartbeat = positive(c, "WithHeartbeat", d) }
}

// WithReconnectBackoff sets the wait between reconnect attempts: it doubles
// from min up to max (default 100ms to 2s).
func WithReconnectBackoff(min, max time.Duration) Option {
	return func(c *config) {
		c.backoffMin = positive(c, "WithReconnectBackoff min", min)
		c.backoffMax = positive(c, "WithReconnectBackoff max", max)
		if max < min {
			c.fail("WithReconnectBackoff: max %v is below min %v", max, min)
		}
	}
}

// WithPrefetch sets the consumer prefetch (basic.qos): how many unacked
// deliveries the server pushes to this broker. Default: the kernel's
// AckCapacity, the in-flight bound, so a consumer that stops reading holds
// no more than that; a larger prefetch lets it hold more.
func WithPrefetch(n int) Option {
	return func(c *config) {
		if n < 1 || n > 65535 {
			c.fail("WithPrefetch: %d is out of range 1..65535", n)
		}
		c.prefetch = n
	}
}

// WithQueueArgs adds arguments to the queue declaration, such as
// "x-queue-type": "quorum" or "x-max-length". They apply to the queue and
// its dead-letter queue. The dead-letter arguments are set by the broker.
func WithQueueArgs(args map[string]any) Option {
	return func(c *config) {
		for k := range args {
			if k == "x-dead-letter-exchange" || k == "x-dead-letter-routing-key" {
				c.fail("WithQueueArgs: %s is set by the broker (see WithDeadLetterQueue)", k)
			}
		}
		c.queueArgs = maps.Clone(args)
	}
}

// WithDeadLetterQueue names the queue that receives dead letters (default:
// the queue's name with ".dlq" appended). Open a broker on it to read them.
func WithDeadLetterQueue(name string) Option {
	return func(c *config) {
		if name == "" || len(name) > 255 {
			c.fail("WithDeadLetterQueue: name %q is empty or longer than 255 bytes", name)
		}
		c.deadLetter = name
	}
}

// WithDelayQueues turns the delayed redelivery of failed messages on (the
// default) or off. On, a failed message waits in a queue
// "<queue>.delay.<ms>" whose TTL sends it back, so the kernel's redelivery
// backoff is honoured (rounded up to a power of two milliseconds). Off, the
// broker declares no Delay: the kernel holds the failed message in this
// process for the backoff, then requeues it (no extra queues on the server;
// a crash meanwhile redelivers it at once).
func WithDelayQueues(on bool) Option {
	return func(c *config) { c.delayQueues = on }
}

// WithMaxPayload sets the largest payload sent (default DefaultMaxPayload,
// RabbitMQ's own default limit); larger messages go to the emitter's
// dead-letter channel with swarm.ErrTooLarge. Keep it at or below the
// server's max_message_size: the server closes the channel of a larger
// publish, failing the messages in flight beside it.
func WithMaxPayload(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.fail("WithMaxPayload: %d is not positive", n)
		}
		c.maxPayload = n
	}
}

// WithReceiveWait sets how long a receive waits for a first delivery before
// returning none (default 500ms). It bounds how stale a stop can be, not
// latency: deliveries are pushed by the server.
func WithReceiveWait(d time.Duration) Option {
	return func(c *config) { c.receiveWait = positive(c, "WithReceiveWait", d) }
}

func positive(c *config, name string, d time.Duration) time.Duration {
	if d <= 0 {
		c.fail("%s: %v is not positive", name, d)
	}
	return d
}

// target is one server to dial, its URL parsed, and its redacted form for
// messages.
type target struct {
	uri      amqp091.URI
	url      string // as given (with credentials): for dialing only
	redacted string // scheme://host:port/vhost, no credentials
}

// parseTargets checks the URLs and applies WithTLS and WithCredentials.
// Errors never hold a password.
func (c *config) parseTargets() ([]target, error) {
	var ts []target
	for _, raw := range c.urls {
		if c.tls != nil && strings.HasPrefix(raw, "amqp://") {
			raw = "amqps://" + strings.TrimPrefix(raw, "amqp://")
		}
		uri, err := amqp091.ParseURI(raw)
		if err != nil {
			return nil, fmt.Errorf("URL %s: %w", redactRaw(raw), scrub(err, secretsOf(raw, c.pass)...))
		}
		ts = append(ts, target{uri: uri, url: raw, redacted: redact(uri)})
	}
	return ts, nil
}

// redact names a server without its credentials.
func redact(u amqp091.URI) string {
	vhost := u.Vhost
	if vhost != "/" {
		vhost = "/" + vhost
	}
	return fmt.Sprintf("%s://%s:%d%s", u.Scheme, u.Host, u.Port, vhost)
}

// redactRaw removes the user information from a URL that did not parse.
func redactRaw(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "(unparsable URL)"
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "xxxxx@" + rest[at+1:]
	}
	return scheme + "://" + rest
}

// secretsOf lists the strings that must not appear in errors about raw: its
// password (raw and decoded) and the one given by WithCredentials.
func secretsOf(raw, pass string) []string {
	var s []string
	if pass != "" {
		s = append(s, pass)
	}
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, p, ok := strings.Cut(rest[:at], ":"); ok && p != "" {
				s = append(s, p)
			}
		}
	}
	return s
}

// scrub returns err, or an error with the same text less the secrets when
// the text holds one. The scrubbed error drops its cause, which holds them.
func scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	hit := false
	for _, s := range secrets {
		if len(s) >= 1 && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
			hit = true
		}
	}
	if !hit {
		return err
	}
	return errors.New(msg)
}
