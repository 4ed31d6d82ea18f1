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
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/swarm-go/swarm"
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
	awsCfg, httpClient, err := loadAWS(&c)
	if err != nil {
		return nil, err
	}
	client := sns.NewFromConfig(awsCfg, func(o *sns.Options) {
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
	})
	where := c.endpoint
	if where == "" {
		where = awsCfg.Region
	}
	if u, err := url.Parse(where); err == nil && u.Host != "" {
		where = u.Host
	}
	d := &driver{c: client, http: httpClient, cfg: c, where: "sns://" + where + "/" + name}
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
	case c.endpoint != "":
		u, err := url.Parse(c.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return bad("endpoint is not an http(s) URL without credentials")
		}
	}
	return nil
}

// loadAWS builds the AWS configuration: the caller's, or the default chain,
// with the emitter's overrides on top. It returns the HTTP client when it is
// the emitter's own, so Close can drop its connections.
func loadAWS(c *config) (aws.Config, *http.Client, error) {
	loopback := c.endpoint != "" && isLoopback(c.endpoint)
	// Emulators accept any credentials. Without this, the default chain
	// would end by asking the EC2 metadata service, off this machine.
	if c.creds == nil && loopback && c.awsConfig == nil &&
		os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		c.creds = credentials.NewStaticCredentialsProvider("swarm", "swarm", "")
	}
	var hc aws.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 64 // concurrent PublishBatch calls share one host
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
			return aws.Config{}, nil, fmt.Errorf("sns: load the AWS configuration: %w", err)
		}
	}
	var own *http.Client
	if b, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok && (c.awsConfig == nil || c.tls != nil || c.awsConfig.HTTPClient == nil) {
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
		return aws.Config{}, nil, fmt.Errorf("%w: sns: no AWS region: set AWS_REGION or use sns.WithRegion", swarm.ErrConfig)
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
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

func init() {
	swarm.Register("sns", func(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
		return Open(u, WithKernel(opts...))
	})
}

// Open opens the topic a sns:// URL names (see the package documentation),
// with opts applied after the URL's settings.
func Open(u *url.URL, opts ...Option) (*Emitter, error) {
	if u.Scheme != "sns" {
		return nil, fmt.Errorf("%w: sns: URL scheme is %q, want sns", swarm.ErrConfig, u.Scheme)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: sns: credentials in the URL are not accepted; use the AWS credential chain or sns.WithCredentials", swarm.ErrConfig)
	}
	path := strings.Trim(u.Path, "/")
	var pre []Option
	name := path
	if path == "" {
		name = u.Host
	} else if u.Host != "" {
		scheme := "https"
		if isLoopback("http://" + u.Host) {
			scheme = "http"
		}
		switch v := u.Query().Get("tls"); v {
		case "true", "1":
			scheme = "https"
		case "false", "0":
			scheme = "http"
		case "":
		default:
			return nil, fmt.Errorf("%w: sns: tls=%q, want true or false", swarm.ErrConfig, v)
		}
		pre = append(pre, WithEndpoint(scheme+"://"+u.Host))
	}
	if r := u.Query().Get("region"); r != "" {
		pre = append(pre, WithRegion(r))
	}
	return NewEmitter(name, append(pre, opts...)...)
}

// requestCtx bounds one SNS call.
func (d *driver) requestCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.cfg.requestTimeout)
}
