package kinesis

import (
	"crypto/tls"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/internal/awsconf"
	"github.com/swarm-go/swarm/kernel"
)

// Option configures a Kinesis broker. Options are checked by New, which
// fails with swarm.ErrConfig naming the bad setting.
type Option func(*config)

type config struct {
	kernel []swarm.Option
	awsconf.Settings

	requestTimeout time.Duration
	create         bool
	shards         int
	partitionKey   func(kernel.Envelope) string
	store          CheckpointStore
	deadLetter     string
	pollInterval   time.Duration
	refresh        time.Duration
	buffer         int
	defaultCat     string
}

func defaults() config {
	return config{
		requestTimeout: 30 * time.Second,
		create:         true,
		shards:         1,
		pollInterval:   200 * time.Millisecond,
		refresh:        10 * time.Second,
		buffer:         1000,
	}
}

// WithKernel sets the kernel options (policy, capacities, retries, ...).
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) { c.kernel = append(c.kernel, opts...) }
}

// WithEndpoint sends every Kinesis call to url (BaseEndpoint), such as
// "http://127.0.0.1:4567" for kinesalite or a VPC endpoint. On a loopback
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

// WithRequestTimeout bounds every Kinesis call (default 30s).
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) { c.requestTimeout = d }
}

// WithCreateStream sets whether New creates the stream (and the dead-letter
// stream) when missing, with WithShards shards (default true).
func WithCreateStream(create bool) Option {
	return func(c *config) { c.create = create }
}

// WithShards sets the shard count of the streams New creates (default 1,
// 1 to 10,000). Existing streams keep theirs.
func WithShards(n int) Option {
	return func(c *config) { c.shards = n }
}

// WithPartitionKey sets how a message's partition key is chosen (default:
// its category, so each category is one ordered sequence on one shard).
// Order is kept per partition key only. An empty key falls back to the
// category. See PartitionByAttr and PartitionByID.
func WithPartitionKey(f func(env kernel.Envelope) string) Option {
	return func(c *config) { c.partitionKey = f }
}

// PartitionByAttr keys each message by its attribute name (by its category
// when it lacks it): ordered per key, spread over the shards.
func PartitionByAttr(name string) func(kernel.Envelope) string {
	return func(env kernel.Envelope) string { return env.Attrs[name] }
}

// PartitionByID keys each message by its id: spread evenly over the shards,
// with no order between messages.
func PartitionByID(env kernel.Envelope) string { return env.ID }

// WithCheckpointStore sets where listeners keep their position in each
// shard (default: one in-memory store shared by the brokers of the process,
// see MemoryCheckpoints). A durable store (DynamoDB, a database) lets a
// restarted process resume where it left off.
func WithCheckpointStore(s CheckpointStore) Option {
	return func(c *config) { c.store = s }
}

// WithDeadLetterStream sends dead letters (messages failed on every
// attempt, or undecodable) to the stream name, created when missing unless
// WithCreateStream(false); the conventional name is "<stream>-dlq". Without
// it dead letters are reported (swarm.ErrNoDeadLetter) and skipped.
func WithDeadLetterStream(name string) Option {
	return func(c *config) { c.deadLetter = name }
}

// WithPollInterval sets how long a shard reader waits after an empty
// GetRecords before the next (default 200ms; Kinesis allows 5 calls per
// second per shard).
func WithPollInterval(d time.Duration) Option {
	return func(c *config) { c.pollInterval = d }
}

// WithShardRefresh sets how often ListShards looks for new shards after a
// reshard (default 10s; a closed shard read to its end triggers a refresh
// at once).
func WithShardRefresh(d time.Duration) Option {
	return func(c *config) { c.refresh = d }
}

// WithBuffer bounds the records read ahead of the application, summed over
// all shards (default 1000, 1 to 10,000); it is also the GetRecords limit.
func WithBuffer(n int) Option {
	return func(c *config) { c.buffer = n }
}

// WithDefaultCategory sets the category of records that carry none: records
// written by other producers (without swarm's header), so a typed listener
// can take them. Without it they are reported as of unknown category and
// settled by policy.
func WithDefaultCategory(category string) Option {
	return func(c *config) { c.defaultCat = category }
}
