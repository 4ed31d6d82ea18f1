package sqs

import (
	"crypto/tls"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/internal/awsconf"
)

// Option configures an SQS broker. Options are checked by New, which fails
// with swarm.ErrConfig naming the bad setting.
type Option func(*config)

type config struct {
	kernel []swarm.Option
	awsconf.Settings

	receivers       int
	sendConcurrency int
	waitTime        time.Duration
	requestTimeout  time.Duration
	maxPayload      int
	create          bool
	deadLetter      string
	groupAttr       string
	defaultCategory string
}

func defaults() config {
	return config{
		receivers:       4,
		sendConcurrency: 8,
		waitTime:        5 * time.Second,
		requestTimeout:  30 * time.Second,
		maxPayload:      DefaultMaxPayload,
		create:          true,
	}
}

// DefaultMaxPayload is the largest message the broker sends by default:
// 256 KiB, counting the body and the message attributes, the limit of SQS
// queues created before August 2025 and of SNS. Queues allowing more take
// WithMaxPayload.
const DefaultMaxPayload = 256 * 1024

// WithKernel sets the kernel options (policy, capacities, retries, the lease
// through swarm.WithTimeToFlight, ...).
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) { c.kernel = append(c.kernel, opts...) }
}

// WithEndpoint sends every SQS call to url (BaseEndpoint), such as
// "http://127.0.0.1:4566" for an emulator or a VPC endpoint. On a loopback
// endpoint, missing credentials and region default to dummy ones, since
// emulators accept any.
func WithEndpoint(url string) Option {
	return func(c *config) { c.Endpoint = url }
}

// WithRegion sets the AWS region, overriding the default chain (AWS_REGION,
// the shared config profile).
func WithRegion(region string) Option {
	return func(c *config) { c.Region = region }
}

// WithCredentials sets the credentials provider, overriding the default
// chain (environment, shared files, SSO, web identity, container and EC2
// roles). Credentials are never logged nor put in errors.
func WithCredentials(p aws.CredentialsProvider) Option {
	return func(c *config) { c.Credentials = p }
}

// WithAWSConfig uses cfg (from config.LoadDefaultConfig or built by hand)
// instead of loading the default configuration. WithRegion, WithCredentials
// and WithTLS still apply on top of it.
func WithAWSConfig(cfg aws.Config) Option {
	return func(c *config) { c.AWSConfig = &cfg }
}

// WithTLS sets the TLS configuration of the HTTPS connections (private CA,
// client certificates, minimum version).
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.TLS = cfg }
}

// WithReceivers sets how many ReceiveMessage calls run at once (default 4,
// 1 to 64). More hide the round trip; each takes up to 10 messages.
func WithReceivers(n int) Option {
	return func(c *config) { c.receivers = n }
}

// WithSendConcurrency sets how many SendMessageBatch calls of one emit
// channel run at once on a standard queue (default 8, 1 to 64). Standard
// queues promise no order, so nothing is lost by it; FIFO queues always send
// one batch at a time.
func WithSendConcurrency(n int) Option {
	return func(c *config) { c.sendConcurrency = n }
}

// WithWaitTime sets the long-poll wait of ReceiveMessage (default 5s, whole
// seconds up to 20s; 0 polls without waiting and lets the kernel back off up
// to its poll frequency). Close waits for polls in flight to return, so that
// no message they take is left invisible: a longer wait makes fewer empty
// calls and a slower Close.
func WithWaitTime(d time.Duration) Option {
	return func(c *config) { c.waitTime = d }
}

// WithRequestTimeout bounds every SQS call but the long poll, whose bound is
// its wait plus this (default 30s).
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) { c.requestTimeout = d }
}

// WithMaxPayload sets the largest message sent, body and attributes
// included (default DefaultMaxPayload; at most 1 MiB, and the queue's own
// MaximumMessageSize wins when smaller). It also bounds the bytes of one
// SendMessageBatch. Larger messages go to the emitter's dead-letter channel
// with swarm.ErrTooLarge.
func WithMaxPayload(n int) Option {
	return func(c *config) { c.maxPayload = n }
}

// WithCreateQueues sets whether New creates the queue, and DeadLetter the
// dead-letter queue, when missing (default true). Turn it off where the
// queues are provisioned elsewhere and the role may not create them.
func WithCreateQueues(create bool) Option {
	return func(c *config) { c.create = create }
}

// WithDeadLetterQueue names the queue dead letters go to. By default it is
// the queue its RedrivePolicy names, else "<queue>-dlq" ("<name>-dlq.fifo"
// for a FIFO queue).
func WithDeadLetterQueue(name string) Option {
	return func(c *config) { c.deadLetter = name }
}

// WithMessageGroupAttr makes the MessageGroupId of a FIFO queue the value of
// the message attribute name (falling back to the category when a message
// lacks it). By default the group is the category, so each category is one
// ordered stream; a key such as a customer id spreads a category over groups
// that consumers take in parallel, ordered per key.
func WithMessageGroupAttr(name string) Option {
	return func(c *config) { c.groupAttr = name }
}

// WithDefaultCategory sets the category of received messages that carry
// none (sent by other producers, or by SNS without attributes), so a typed
// listener can take them. Without it they are reported as of unknown
// category and dead-lettered after the redelivery attempts.
func WithDefaultCategory(category string) Option {
	return func(c *config) { c.defaultCategory = category }
}
