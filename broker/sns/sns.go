// Package sns is the Amazon SNS emitter of swarm, on aws-sdk-go-v2. SNS is
// one-way: emit on a topic here, and listen on an SQS queue subscribed to
// it with package broker/sqs, which decodes SNS deliveries (raw or in their
// JSON envelope) back into typed messages with their category.
//
//	topic, err := sns.NewEmitter("orders")        // created if missing
//	enq, dlq := emit.Typed[Order](topic)
//
// Messages go out with PublishBatch (10 per call, several calls at once on
// a standard topic; FIFO topics, named "*.fifo", keep order). The category,
// the message id and the application's attributes travel as message
// attributes, so subscription filter policies can route on the category:
// {"swarm-category": ["Order"]}.
//
// Importing the package registers the URL scheme sns (emit only):
//
//	sns://orders                          topic orders, default AWS endpoint
//	sns://127.0.0.1:4566/orders           topic orders at that endpoint
//	sns://host/orders.fifo?region=eu-west-1&tls=true
package sns

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/internal/awsconf"
	"github.com/swarm-go/swarm/kernel"
)

// Emitter publishes to one SNS topic. It is a swarm.Broker for emit only;
// listen panics on it. It is safe for concurrent use.
type Emitter struct {
	k   *kernel.Kernel
	d   *driver
	arn string
}

// Close flushes the emits already handed over and closes the dead-letter
// channels.
func (e *Emitter) Close() error { return e.k.Close() }

// Kernel returns the kernel running the emitter's channels.
func (e *Emitter) Kernel() *kernel.Kernel { return e.k }

// TopicArn is the ARN of the topic.
func (e *Emitter) TopicArn() string { return e.arn }

// Client is the SNS client the emitter uses (to subscribe queues, say).
func (e *Emitter) Client() *sns.Client { return e.d.c }

var topicName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,251}(\.fifo)?$|^[A-Za-z0-9_-]{1,256}$`)

// NewEmitter opens the topic target, a topic name ("orders", "orders.fifo")
// or ARN, creating a named topic unless WithCreateTopic(false). It loads the
// AWS configuration (config.LoadDefaultConfig) and reads the topic's
// attributes, so it fails early: with swarm.ErrConfig for a bad option, with
// the SNS error otherwise; no error holds a credential.
func NewEmitter(target string, opts ...Option) (*Emitter, error) {
	c := defaults()
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	name, arn := target, ""
	if strings.HasPrefix(target, "arn:") {
		arn, name = target, target[strings.LastIndexByte(target, ':')+1:]
	}
	if !topicName.MatchString(name) {
		return nil, fmt.Errorf("%w: sns: %q is not a valid topic name or ARN", swarm.ErrConfig, target)
	}
	if err := c.validate(name); err != nil {
		return nil, err
	}
	kcfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("sns: %w", err)
	}
	conn, err := c.Load("sns")
	if err != nil {
		return nil, err
	}
	client := sns.NewFromConfig(conn.Config, func(o *sns.Options) { o.BaseEndpoint = c.BaseEndpoint() })
	d := &driver{c: client, http: conn.HTTP, cfg: c, where: "sns://" + conn.Host + "/" + name}
	ctx, cancel := context.WithTimeout(context.Background(), 2*c.requestTimeout)
	defer cancel()
	if arn == "" {
		if arn, err = d.topicArn(ctx, name); err != nil {
			d.close()
			return nil, err
		}
	}
	d.arn = arn
	if err := d.inspect(ctx); err != nil {
		d.close()
		return nil, err
	}
	return &Emitter{k: kernel.New(kcfg, d.where, d), d: d, arn: arn}, nil
}

func (c *config) validate(name string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: sns %s: %s", swarm.ErrConfig, name, fmt.Sprintf(format, args...))
	}
	switch {
	case c.sendConcurrency < 1 || c.sendConcurrency > 64:
		return bad("send concurrency is %d, want 1 to 64", c.sendConcurrency)
	case c.batchSize < 1 || c.batchSize > batchMax:
		return bad("batch size is %d, want 1 to %d", c.batchSize, batchMax)
	case c.requestTimeout <= 0:
		return bad("request timeout is %v, want a positive duration", c.requestTimeout)
	}
	return c.Settings.Validate("sns " + name)
}

func init() {
	swarm.Register("sns", func(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
		return Open(u, WithKernel(opts...))
	})
}

// Open opens the topic a sns:// URL names (see the package documentation),
// with opts applied after the URL's settings.
func Open(u *url.URL, opts ...Option) (*Emitter, error) {
	t, err := awsconf.ParseURL(u, "sns")
	if err != nil {
		return nil, err
	}
	fromURL := func(c *config) { t.Apply(&c.Settings) }
	return NewEmitter(t.Name, append([]Option{fromURL}, opts...)...)
}

// requestCtx bounds one SNS call.
func (d *driver) requestCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.cfg.requestTimeout)
}
