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
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/swarm-go/swarm"
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
	awsCfg, hc, err := loadAWS(&c)
	if err != nil {
		return nil, err
	}
	client := eventbridge.NewFromConfig(awsCfg, func(o *eventbridge.Options) {
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
	})
	where := c.endpoint
	if where == "" {
		where = awsCfg.Region
	}
	d := &driver{c: client, http: hc, cfg: c, where: "eventbridge://" + hostOf(where) + "/" + busName(c.bus)}
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
// with the emitter's overrides on top. It returns the HTTP client it built,
// so Close can drop its idle connections.
func loadAWS(c *config) (aws.Config, *http.Client, error) {
	loopback := c.endpoint != "" && isLoopback(c.endpoint)
	// Test servers accept any credentials; without this the default chain
	// would end by asking the EC2 metadata service, off this machine.
	if c.creds == nil && loopback && c.awsConfig == nil &&
		os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		c.creds = credentials.NewStaticCredentialsProvider("swarm", "swarm", "")
	}
	var hc aws.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 64
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
			return aws.Config{}, nil, fmt.Errorf("eventbridge: load the AWS configuration: %w", err)
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
		return aws.Config{}, nil, fmt.Errorf("%w: eventbridge: no AWS region: set AWS_REGION or use eventbridge.WithRegion", swarm.ErrConfig)
	}
	if c.creds != nil {
		cfg.Credentials = aws.NewCredentialsCache(c.creds)
	}
	return cfg, own, nil
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
	swarm.Register("eventbridge", func(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
		return Open(u, WithKernel(opts...))
	})
}

// Open opens an emitter onto the bus an eventbridge:// URL names (see the
// package documentation), with opts applied after the URL's settings. The
// query takes source, region, tls and concurrency.
func Open(u *url.URL, opts ...Option) (*Emitter, error) {
	if u.Scheme != "eventbridge" {
		return nil, fmt.Errorf("%w: eventbridge: URL scheme is %q, want eventbridge", swarm.ErrConfig, u.Scheme)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: eventbridge: credentials in the URL are not accepted; use the AWS credential chain or eventbridge.WithCredentials", swarm.ErrConfig)
	}
	path := strings.Trim(u.Path, "/")
	bus := path
	var pre []Option
	if path == "" {
		bus = u.Host
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
			return nil, fmt.Errorf("%w: eventbridge: tls=%q, want true or false", swarm.ErrConfig, t)
		}
		pre = append(pre, WithEndpoint(scheme+"://"+u.Host))
	}
	if bus != "" {
		pre = append(pre, WithEventBus(bus))
	}
	q := u.Query()
	if s := q.Get("source"); s != "" {
		pre = append(pre, WithSource(s))
	}
	if r := q.Get("region"); r != "" {
		pre = append(pre, WithRegion(r))
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
