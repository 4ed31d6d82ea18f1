// Package kinesis is the Amazon Kinesis Data Streams broker of swarm, on
// aws-sdk-go-v2.
//
//	q, err := kinesis.New("orders")                       // default credentials and region
//	q, err := kinesis.New("orders", kinesis.WithEndpoint("http://127.0.0.1:4567")) // kinesalite
//
// Emits go out with PutRecords (up to 500 records and 5 MiB per call), keyed
// by category (WithPartitionKey to change it); per-record failures are
// retried alone by the kernel. Each record carries the category, id,
// attempt and attributes in a small binary header before the payload (see
// kinesiswire). A listener reads every shard of the stream, one goroutine per
// shard (parents of a reshard to their end before their children), into a
// bounded buffer, and acks advance a checkpoint per shard over the
// contiguous settled prefix (CheckpointStore; in memory by default).
//
// Kinesis cannot deliver one record again: a failed (or released) message
// is put again at the end of its shard with its attempt count raised, and
// the original is settled. Records read but unsettled when a listener stops
// without releasing them (a crash) come back after its checkpoint, with
// their attempt count unchanged. Every listener reads every record: there
// are no competing consumers.
//
// Importing the package registers the URL scheme kinesis:
//
//	kinesis://orders                     stream orders, default AWS endpoint
//	kinesis://127.0.0.1:4567/orders      stream orders at that endpoint
//	kinesis://host/orders?region=eu-west-1&tls=true&shards=4
package kinesis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/internal/awsconf"
	"github.com/swarm-go/swarm/kernel"
)

// Broker is a connection to one Kinesis stream, for emitting and listening.
// It is safe for concurrent use.
type Broker struct {
	k *kernel.Kernel
	d *driver
}

// Close flushes the emits already handed over, settles the acks already
// sent, re-puts the deliveries still unsettled (so the next listener gets
// them), stops the shard readers and closes the channels.
func (b *Broker) Close() error { return b.k.Close() }

// Kernel returns the kernel running the broker's channels.
func (b *Broker) Kernel() *kernel.Kernel { return b.k }

// Client is the Kinesis client the broker uses, for calls swarm does not
// make.
func (b *Broker) Client() *kinesis.Client { return b.d.c }

var streamName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// New opens the stream name, creating it when missing unless
// WithCreateStream(false). It loads the AWS configuration
// (config.LoadDefaultConfig) and checks the stream, so it fails early: with
// swarm.ErrConfig for a bad option, with the Kinesis error otherwise. No
// error holds a credential.
func New(name string, opts ...Option) (*Broker, error) {
	c := defaults()
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	if err := c.validate(name); err != nil {
		return nil, err
	}
	kcfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("kinesis: %w", err)
	}
	conn, err := c.Load("kinesis")
	if err != nil {
		return nil, err
	}
	client := kinesis.NewFromConfig(conn.Config, func(o *kinesis.Options) { o.BaseEndpoint = c.BaseEndpoint() })
	d := newDriver(client, conn.HTTP, name, "kinesis://"+conn.Host+"/"+name, c)
	ctx, cancel := context.WithTimeout(context.Background(), 4*c.requestTimeout)
	defer cancel()
	for _, s := range []string{name, c.deadLetter} {
		if s == "" {
			continue
		}
		if err := d.ensureStream(ctx, s); err != nil {
			d.closeHTTP()
			return nil, err
		}
	}
	var drv kernel.Driver = d
	if c.deadLetter != "" {
		drv = &dlqDriver{d}
	}
	return &Broker{k: kernel.New(kcfg, d.where, drv), d: d}, nil
}

func (c *config) validate(name string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: kinesis %s: %s", swarm.ErrConfig, name, fmt.Sprintf(format, args...))
	}
	switch {
	case !streamName.MatchString(name):
		return bad("not a valid stream name (1-128 letters, digits, _ . -)")
	case c.requestTimeout <= 0:
		return bad("request timeout is %v, want a positive duration", c.requestTimeout)
	case c.shards < 1 || c.shards > 10000:
		return bad("shards is %d, want 1 to 10000", c.shards)
	case c.pollInterval <= 0 || c.refresh <= 0:
		return bad("poll interval %v and shard refresh %v must be positive", c.pollInterval, c.refresh)
	case c.buffer < 1 || c.buffer > 10000:
		return bad("buffer is %d, want 1 to 10000", c.buffer)
	case c.deadLetter != "" && !streamName.MatchString(c.deadLetter):
		return bad("dead-letter stream %q is not a valid stream name", c.deadLetter)
	case c.deadLetter == name:
		return bad("the dead-letter stream is the stream itself")
	}
	return c.Settings.Validate("kinesis " + name)
}

// ensureStream waits until stream is active, creating it when missing and
// allowed.
func (d *driver) ensureStream(ctx context.Context, stream string) error {
	_, err := d.c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	var missing *types.ResourceNotFoundException
	switch {
	case err == nil:
	case errors.As(err, &missing) && d.cfg.create:
		_, err = d.c.CreateStream(ctx, &kinesis.CreateStreamInput{
			StreamName: aws.String(stream), ShardCount: aws.Int32(int32(d.cfg.shards)),
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) { // created meanwhile by another broker: fine
			return fmt.Errorf("kinesis: create stream %s at %s: %w", stream, hostOf(d.where), err)
		}
	default:
		return fmt.Errorf("kinesis: describe stream %s at %s: %w", stream, hostOf(d.where), err)
	}
	w := kinesis.NewStreamExistsWaiter(d.c, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 2*time.Second
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)}, 4*d.cfg.requestTimeout); err != nil {
		return fmt.Errorf("kinesis: stream %s at %s is not active: %w", stream, hostOf(d.where), err)
	}
	return nil
}

// hostOf is the host of a URL such as d.where, for error messages.
var hostOf = awsconf.HostOf

func init() {
	swarm.Register("kinesis", func(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
		return Open(u, WithKernel(opts...))
	})
}

// Open opens the stream a kinesis:// URL names (see the package
// documentation), with opts applied after the URL's settings.
func Open(u *url.URL, opts ...Option) (*Broker, error) {
	t, err := awsconf.ParseURL(u, "kinesis")
	if err != nil {
		return nil, err
	}
	pre := []Option{func(c *config) { t.Apply(&c.Settings) }}
	q := u.Query()
	if s := q.Get("shards"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%w: kinesis: shards=%q is not a number", swarm.ErrConfig, s)
		}
		pre = append(pre, WithShards(n))
	}
	if s := q.Get("dlq"); s != "" {
		pre = append(pre, WithDeadLetterStream(s))
	}
	return New(t.Name, append(pre, opts...)...)
}
