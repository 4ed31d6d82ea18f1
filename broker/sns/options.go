package sns

import (
	"crypto/tls"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/internal/awsconf"
)

// Option configures an SNS emitter. Options are checked by NewEmitter,
// which fails with swarm.ErrConfig naming the bad setting.
type Option func(*config)

type config struct {
	kernel []swarm.Option
	awsconf.Settings

	sendConcurrency int
	batchSize       int
	requestTimeout  time.Duration
	create          bool
	groupAttr       string
}

func defaults() config {
	return config{sendConcurrency: 8, batchSize: batchMax, requestTimeout: 30 * time.Second, create: true}
}

// WithKernel sets the kernel options (capacities, retries, error channel).
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) { c.kernel = append(c.kernel, opts...) }
}

// WithEndpoint sends every SNS call to url (BaseEndpoint), such as
// "http://127.0.0.1:4566" for an emulator. On a loopback endpoint, missing
// credentials and region default to dummy ones, since emulators accept any.
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

// WithSendConcurrency sets how many PublishBatch calls of one emit channel
// run at once on a standard topic (default 8, 1 to 64). FIFO topics always
// publish one batch at a time.
func WithSendConcurrency(n int) Option {
	return func(c *config) { c.sendConcurrency = n }
}

// WithRequestTimeout bounds every SNS call (default 30s).
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) { c.requestTimeout = d }
}

// WithCreateTopic sets whether NewEmitter creates the topic when given a
// name (default true; CreateTopic returns the existing topic). Without it,
// a name is looked up with ListTopics; an ARN is used as it is.
func WithCreateTopic(create bool) Option {
	return func(c *config) { c.create = create }
}

// WithMessageGroupAttr makes the MessageGroupId on a FIFO topic the value of
// the message attribute name, falling back to the category.
func WithMessageGroupAttr(name string) Option {
	return func(c *config) { c.groupAttr = name }
}

// WithBatchSize bounds the messages per PublishBatch call (default and
// maximum 10).
func WithBatchSize(n int) Option {
	return func(c *config) { c.batchSize = n }
}
