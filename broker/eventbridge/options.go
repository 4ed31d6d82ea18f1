package eventbridge

import (
	"crypto/tls"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/internal/awsconf"
)

// Option configures an EventBridge emitter. Options are checked by
// NewEmitter, which fails with swarm.ErrConfig naming the bad setting.
type Option func(*config)

type config struct {
	kernel []swarm.Option
	awsconf.Settings

	bus             string
	source          string
	requestTimeout  time.Duration
	sendConcurrency int
}

func defaults() config {
	return config{
		bus:             "default",
		source:          DefaultSource,
		requestTimeout:  30 * time.Second,
		sendConcurrency: 4,
	}
}

// DefaultSource is the Source of the events when WithSource is not given.
const DefaultSource = "swarm"

// WithKernel sets the kernel options (emit capacity, retries, ...).
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) { c.kernel = append(c.kernel, opts...) }
}

// WithEventBus sets the event bus events are put on: a name or an ARN
// (default "default", the account's default bus).
func WithEventBus(nameOrARN string) Option {
	return func(c *config) { c.bus = nameOrARN }
}

// WithSource sets the Source of every event (default DefaultSource), the
// field rules usually match on, such as "com.example.orders". Sources
// starting with "aws." are reserved by AWS and refused.
func WithSource(source string) Option {
	return func(c *config) { c.source = source }
}

// WithEndpoint sends every EventBridge call to url (BaseEndpoint), for a VPC
// endpoint or a test server. On a loopback endpoint, missing credentials and
// region default to dummy ones.
func WithEndpoint(url string) Option {
	return func(c *config) { c.Endpoint = url }
}

// WithRegion sets the AWS region, overriding the default chain.
func WithRegion(region string) Option {
	return func(c *config) { c.Region = region }
}

// WithCredentials sets the credentials provider, overriding the default
// chain. Credentials are never logged nor put in errors.
func WithCredentials(p aws.CredentialsProvider) Option {
	return func(c *config) { c.Credentials = p }
}

// WithAWSConfig uses cfg instead of loading the default configuration.
// WithRegion, WithCredentials and WithTLS still apply on top of it.
func WithAWSConfig(cfg aws.Config) Option {
	return func(c *config) { c.AWSConfig = &cfg }
}

// WithTLS sets the TLS configuration of the HTTPS connections.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.TLS = cfg }
}

// WithRequestTimeout bounds every PutEvents call (default 30s).
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) { c.requestTimeout = d }
}

// WithSendConcurrency sets how many PutEvents calls of one emit channel run
// at once (default 4, 1 to 64). EventBridge promises no order, so nothing is
// lost by it; 1 keeps the calls in emit order.
func WithSendConcurrency(n int) Option {
	return func(c *config) { c.sendConcurrency = n }
}
