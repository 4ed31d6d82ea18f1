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
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/swarm-go/swarm"
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
	awsCfg, hc, err := loadAWS(&c)
	if err != nil {
		return nil, err
	}
	client := kinesis.NewFromConfig(awsCfg, func(o *kinesis.Options) {
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
	})
	where := c.endpoint
	if where == "" {
		where = awsCfg.Region
	}
	d := newDriver(client, hc, name, "kinesis://"+hostOf(where)+"/"+name, c)
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
	case c.endpoint != "":
		u, err := url.Parse(c.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("endpoint %q is not an http(s) URL", redact(c.endpoint))
		}
		if u.User != nil {
			return bad("endpoint %q holds credentials; use WithCredentials", redact(c.endpoint))
		}
	}
	return nil
}

// loadAWS builds the AWS configuration: the caller's, or the default chain,
// with the broker's overrides on top. It returns the HTTP client it built,
// so Close can drop its idle connections.
func loadAWS(c *config) (aws.Config, *http.Client, error) {
	loopback := c.endpoint != "" && isLoopback(c.endpoint)
	// Emulators accept any credentials; without this the default chain
	// would end by asking the EC2 metadata service, off this machine.
	if c.creds == nil && loopback && c.awsConfig == nil &&
		os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		c.creds = credentials.NewStaticCredentialsProvider("swarm", "swarm", "")
	}
	var hc aws.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 64 // one reader per shard plus the emitter
		if c.tls != nil {
			t.TLSClientConfig = c.tls.Clone()
		}
	})
	var cfg aws.Config
	if c.awsConfig != nil {
		cfg = c.awsConfig.Copy()
		if c.tls != nil || cfg.HTTPClient == nil {
			cfg.HTTPClient = hc
		}
	} else {
		lo := []func(*awsconfig.LoadOptions) error{awsconfig.WithHTTPClient(hc)}
		if loopback {
			lo = append(lo, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
		}
		var err error
		if cfg, err = awsconfig.LoadDefaultConfig(context.Background(), lo...); err != nil {
			return aws.Config{}, nil, fmt.Errorf("kinesis: load the AWS configuration: %w", err)
		}
	}
	var own *http.Client
	if b, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		cfg.HTTPClient = b.Freeze()
		own, _ = cfg.HTTPClient.(*http.Client)
	}
	if c.region != "" {
		cfg.Region = c.region
	}
	if cfg.Region == "" && loopback {
		cfg.Region = "us-east-1"
	}
	if cfg.Region == "" {
		return aws.Config{}, nil, fmt.Errorf("%w: kinesis: no AWS region: set AWS_REGION or use kinesis.WithRegion", swarm.ErrConfig)
	}
	if c.creds != nil {
		cfg.Credentials = aws.NewCredentialsCache(c.creds)
	}
	return cfg, own, nil
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

func isLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func hostOf(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		return u.Host
	}
	return endpoint
}

// redact drops user info from a URL for error messages.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	if i := strings.Index(s, "@"); i >= 0 {
		return "..." + s[i:]
	}
	return s
}

func init() {
	swarm.Register("kinesis", func(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
		return Open(u, WithKernel(opts...))
	})
}

// Open opens the stream a kinesis:// URL names (see the package
// documentation), with opts applied after the URL's settings.
func Open(u *url.URL, opts ...Option) (*Broker, error) {
	if u.Scheme != "kinesis" {
		return nil, fmt.Errorf("%w: kinesis: URL scheme is %q, want kinesis", swarm.ErrConfig, u.Scheme)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: kinesis: credentials in the URL are not accepted; use the AWS credential chain or kinesis.WithCredentials", swarm.ErrConfig)
	}
	path := strings.Trim(u.Path, "/")
	name := path
	var pre []Option
	if path == "" {
		name = u.Host
	} else if u.Host != "" {
		scheme := "https"
		if isLoopback("http://" + u.Host) {
			scheme = "http"
		}
		switch t := u.Query().Get("tls"); t {
		case "true", "1":
			scheme = "https"
		case "false", "0":
			scheme = "http"
		case "":
		default:
			return nil, fmt.Errorf("%w: kinesis: tls=%q, want true or false", swarm.ErrConfig, t)
		}
		pre = append(pre, WithEndpoint(scheme+"://"+u.Host))
	}
	q := u.Query()
	if r := q.Get("region"); r != "" {
		pre = append(pre, WithRegion(r))
	}
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
	return New(name, append(pre, opts...)...)
}
