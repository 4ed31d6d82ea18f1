// Package sqs is the Amazon SQS broker of swarm, on aws-sdk-go-v2.
//
//	q, err := sqs.New("orders")                      // default credentials and region
//	q, err := sqs.New("orders.fifo", sqs.WithRegion("eu-west-1"))
//	q, err := sqs.New("orders", sqs.WithEndpoint("http://127.0.0.1:4566")) // emulator
//
// Standard and FIFO queues (a name ending in ".fifo") are supported. Emits
// go out with SendMessageBatch (10 per call, several calls at once on a
// standard queue); listeners long-poll with concurrent ReceiveMessage calls;
// acks are DeleteMessageBatch, fails and lease extensions
// ChangeMessageVisibilityBatch. Each message carries its category and id as
// message attributes (CategoryAttr, IDAttr) beside the application's
// attributes. Messages that SNS delivers to the queue, raw or in their JSON
// notification envelope, are decoded transparently.
//
// Importing the package registers the URL scheme sqs:
//
//	sqs://orders                          queue orders, default AWS endpoint
//	sqs://127.0.0.1:4566/orders           queue orders at that endpoint
//	sqs://host/orders.fifo?region=eu-west-1&tls=true
//
// An endpoint host is reached over http when it is a loopback address and
// over https otherwise, unless tls=true or tls=false says so.
package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/internal/awsconf"
	"github.com/swarm-go/swarm/kernel"
)

// Broker is a connection to one SQS queue, for emitting and listening. It is
// safe for concurrent use.
type Broker struct {
	k   *kernel.Kernel
	d   *driver
	url string
}

// Close flushes the emits already handed over, settles the acks already
// sent, waits for the receive calls in flight, makes unsettled messages
// visible again at once and closes the channels.
func (b *Broker) Close() error { return b.k.Close() }

// Kernel returns the kernel running the broker's channels.
func (b *Broker) Kernel() *kernel.Kernel { return b.k }

// QueueURL is the URL of the queue.
func (b *Broker) QueueURL() string { return b.url }

// Client is the SQS client the broker uses, for calls swarm does not make.
func (b *Broker) Client() *sqs.Client { return b.d.c }

var queueName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,75}(\.fifo)?$|^[A-Za-z0-9_-]{1,80}$`)

// New opens the queue target, a queue name ("orders", "orders.fifo") or a
// queue URL, creating it when missing unless WithCreateQueues(false). It
// loads the AWS configuration (config.LoadDefaultConfig) and looks the queue
// up, so it fails early, with swarm.ErrConfig for a bad option and with the
// SQS error otherwise; no error holds a credential.
func New(target string, opts ...Option) (*Broker, error) {
	c := defaults()
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	name, queueURL, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	if err := c.validate(name); err != nil {
		return nil, err
	}
	kcfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("sqs: %w", err)
	}
	conn, err := c.Load("sqs")
	if err != nil {
		return nil, err
	}
	client := sqs.NewFromConfig(conn.Config, func(o *sqs.Options) { o.BaseEndpoint = c.BaseEndpoint() })
	d := &driver{c: client, http: conn.HTTP, name: name, cfg: c, fifo: strings.HasSuffix(name, ".fifo")}
	d.lease = leaseOf(kcfg.TimeToFlight)
	d.where = "sqs://" + conn.Host + "/" + name

	ctx, cancel := context.WithTimeout(context.Background(), 2*c.requestTimeout)
	defer cancel()
	if queueURL == "" {
		if queueURL, err = d.queueURL(ctx, name, c.create); err != nil {
			d.close()
			return nil, err
		}
	}
	d.url = queueURL
	if err := d.inspect(ctx); err != nil {
		d.close()
		return nil, err
	}
	return &Broker{k: kernel.New(kcfg, d.where, d), d: d, url: queueURL}, nil
}

func (c *config) validate(name string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: sqs %s: %s", swarm.ErrConfig, name, fmt.Sprintf(format, args...))
	}
	switch {
	case c.receivers < 1 || c.receivers > 64:
		return bad("receivers is %d, want 1 to 64", c.receivers)
	case c.sendConcurrency < 1 || c.sendConcurrency > 64:
		return bad("send concurrency is %d, want 1 to 64", c.sendConcurrency)
	case c.waitTime < 0 || c.waitTime > 20*time.Second:
		return bad("wait time is %v, want 0 to 20s", c.waitTime)
	case c.requestTimeout <= 0:
		return bad("request timeout is %v, want a positive duration", c.requestTimeout)
	case c.maxPayload < 1024 || c.maxPayload > 1<<20:
		return bad("max payload is %d bytes, want 1 KiB to 1 MiB", c.maxPayload)
	case c.deadLetter != "" && !queueName.MatchString(c.deadLetter):
		return bad("dead-letter queue name %q is not a valid SQS queue name", c.deadLetter)
	case c.deadLetter == name:
		return bad("the dead-letter queue is the queue itself")
	}
	return c.Settings.Validate("sqs " + name)
}

// parseTarget splits a queue name or URL into the name and the URL ("" when
// it must be looked up).
func parseTarget(target string) (name, queueURL string, err error) {
	if strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://") {
		u, err := url.Parse(target)
		if err != nil {
			return "", "", fmt.Errorf("%w: sqs: queue URL: %v", swarm.ErrConfig, err)
		}
		name = u.Path[strings.LastIndex(u.Path, "/")+1:]
		if !queueName.MatchString(name) || u.User != nil {
			return "", "", fmt.Errorf("%w: sqs: %q is not a queue URL", swarm.ErrConfig, awsconf.Redact(target))
		}
		return name, target, nil
	}
	if !queueName.MatchString(target) {
		return "", "", fmt.Errorf("%w: sqs: %q is not a valid queue name (1-80 letters, digits, - and _, with .fifo for FIFO queues)",
			swarm.ErrConfig, target)
	}
	return target, "", nil
}

// queueURL looks name up, creating the queue when missing and create is set.
func (d *driver) queueURL(ctx context.Context, name string, create bool) (string, error) {
	out, err := d.c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err == nil {
		return aws.ToString(out.QueueUrl), nil
	}
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) || !create {
		return "", fmt.Errorf("sqs: look up queue %s at %s: %w", name, d.where, err)
	}
	in := &sqs.CreateQueueInput{QueueName: aws.String(name)}
	if strings.HasSuffix(name, ".fifo") {
		in.Attributes = map[string]string{string(types.QueueAttributeNameFifoQueue): "true"}
	}
	created, err := d.c.CreateQueue(ctx, in)
	if err != nil {
		return "", fmt.Errorf("sqs: create queue %s at %s: %w", name, d.where, err)
	}
	return aws.ToString(created.QueueUrl), nil
}

// inspect reads the queue attributes the driver depends on.
func (d *driver) inspect(ctx context.Context) error {
	out, err := d.c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(d.url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameFifoQueue,
			types.QueueAttributeNameContentBasedDeduplication,
			types.QueueAttributeNameRedrivePolicy,
			types.QueueAttributeNameMaximumMessageSize,
		},
	})
	if err != nil {
		return fmt.Errorf("sqs: read the attributes of %s: %w", d.where, err)
	}
	a := out.Attributes
	d.fifo = a[string(types.QueueAttributeNameFifoQueue)] == "true"
	d.contentDedup = a[string(types.QueueAttributeNameContentBasedDeduplication)] == "true"
	d.maxPayload = d.cfg.maxPayload
	if n, err := strconv.Atoi(a[string(types.QueueAttributeNameMaximumMessageSize)]); err == nil && n > 0 && n < d.maxPayload {
		d.maxPayload = n
	}
	d.dlqName = d.cfg.deadLetter
	if d.dlqName == "" {
		d.dlqName = redriveTarget(a[string(types.QueueAttributeNameRedrivePolicy)])
	}
	if d.dlqName == "" {
		if base, ok := strings.CutSuffix(d.name, ".fifo"); ok {
			d.dlqName = base + "-dlq.fifo"
		} else {
			d.dlqName = d.name + "-dlq"
		}
	}
	return nil
}

// redriveTarget returns the queue name a RedrivePolicy's deadLetterTargetArn
// names, or "".
func redriveTarget(policy string) string {
	var p struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	}
	if policy == "" || json.Unmarshal([]byte(policy), &p) != nil {
		return ""
	}
	arn := p.DeadLetterTargetArn
	return arn[strings.LastIndexByte(arn, ':')+1:]
}

func leaseOf(ttf time.Duration) time.Duration {
	s := (ttf + time.Second - 1) / time.Second
	return min(max(s, 1), 43200) * time.Second
}

func init() {
	swarm.Register("sqs", func(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
		return Open(u, WithKernel(opts...))
	})
}

// Open opens the queue a sqs:// URL names (see the package documentation),
// with opts applied after the URL's settings.
func Open(u *url.URL, opts ...Option) (*Broker, error) {
	t, err := awsconf.ParseURL(u, "sqs")
	if err != nil {
		return nil, err
	}
	fromURL := func(c *config) { t.Apply(&c.Settings) }
	return New(t.Name, append([]Option{fromURL}, opts...)...)
}
