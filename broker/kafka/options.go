package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// DefaultBroker is the seed broker used when WithBrokers is not given: a
// Kafka listening on this machine's default port.
const DefaultBroker = "127.0.0.1:9092"

// DefaultGroup is the consumer group used when WithGroup is not given.
const DefaultGroup = "swarm"

// SASL mechanism names accepted by WithSASL.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Option configures a Kafka broker. Options are checked by New, which fails
// with swarm.ErrConfig naming the first invalid one.
type Option func(*config)

type config struct {
	kernel        []swarm.Option
	brokers       []string
	group         string
	keyAttr       string
	deadLetter    string
	partitions    int32
	replication   int16
	createTopics  bool
	tls           *tls.Config
	saslMech      string
	saslUser      string
	saslPass      string // never logged, never in an error
	dialTimeout   time.Duration
	setupTimeout  time.Duration
	linger        time.Duration
	pollWait      time.Duration
	delivery      time.Duration
	session       time.Duration
	heartbeat     time.Duration
	rebalance     time.Duration
	maxPayload    int
	maxHeld       int
	commitEvery   time.Duration
	clientOpts    []kgo.Opt
	invalidOption error
}

func defaultConfig() config {
	return config{
		brokers:      []string{DefaultBroker},
		group:        DefaultGroup,
		partitions:   3,
		replication:  -1,
		createTopics: true,
		dialTimeout:  10 * time.Second,
		setupTimeout: 15 * time.Second,
		linger:       0,
		pollWait:     500 * time.Millisecond,
		delivery:     30 * time.Second,
		session:      45 * time.Second,
		heartbeat:    3 * time.Second,
		rebalance:    60 * time.Second,
		// Kafka's default message.max.bytes is 1048588 for the whole record
		// batch; leave room for the key, headers and batch framing.
		maxPayload: 960_000,
		maxHeld:    1 << 16,
		// A commit per ack batch was the fake cluster's main work on the
		// receive side (twice the server CPU per message of the raw
		// client, which commits every 5s). With 50ms, a member that dies
		// has its acks of about the last 50ms redelivered.
		commitEvery: 50 * time.Millisecond,
	}
}

// WithKernel sets the kernel options (policy, capacities, retries, ...).
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) { c.kernel = append(c.kernel, opts...) }
}

// WithBrokers sets the seed brokers as host:port (default 127.0.0.1:9092).
// The client discovers the rest of the cluster from them.
func WithBrokers(seeds ...string) Option {
	return func(c *config) { c.brokers = append([]string(nil), seeds...) }
}

// WithGroup sets the consumer group that listeners of this broker join
// (default "swarm"). Listeners in one group share the topic's partitions;
// listeners in different groups each receive every message.
func WithGroup(name string) Option {
	return func(c *config) { c.group = name }
}

// WithKeyAttr keys each record by the value of the envelope attribute name
// instead of its category, so Kafka orders messages per that key rather than
// per category. Messages without the attribute are keyed by their category.
// With it the broker no longer declares Ordered: one emit channel's messages
// may spread over several partitions.
func WithKeyAttr(name string) Option {
	return func(c *config) {
		if name == "" {
			c.invalid(errors.New("key attribute name is empty"))
		}
		c.keyAttr = name
	}
}

// WithDeadLetterTopic names the topic that receives dead letters (default:
// the topic's name with ".dlq" appended).
func WithDeadLetterTopic(name string) Option {
	return func(c *config) { c.deadLetter = name }
}

// WithPartitions sets the partitions and replication factor of the topics
// the broker creates when they do not exist (default 3 partitions and the
// cluster's default replication, -1). Existing topics are left as they are.
func WithPartitions(partitions int32, replication int16) Option {
	return func(c *config) { c.partitions, c.replication = partitions, replication }
}

// WithoutTopicCreation stops New from creating the topic and the first
// dead letter from creating the dead-letter topic, for clusters where topics
// are provisioned separately and the client may not create them.
func WithoutTopicCreation() Option {
	return func(c *config) { c.createTopics = false }
}

// WithTLS connects to the brokers over TLS with cfg (nil: the system roots
// and default settings).
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) {
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c.tls = cfg.Clone()
	}
}

// WithSASL authenticates with mechanism PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512 (case-insensitive) as user with password. The password is
// never logged and never part of an error.
func WithSASL(mechanism, user, password string) Option {
	return func(c *config) {
		c.saslMech, c.saslUser, c.saslPass = strings.ToUpper(mechanism), user, password
	}
}

// WithDialTimeout bounds each connection attempt to a broker (default 10s).
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) { c.dialTimeout = d }
}

// WithSetupTimeout bounds what New does on the cluster before returning:
// reaching it and creating the topic (default 15s).
func WithSetupTimeout(d time.Duration) Option {
	return func(c *config) { c.setupTimeout = d }
}

// WithLinger sets how long the client waits for more records of a
// partition before it writes a produce request (default 0: none). Without
// one, requests already carry whatever the emit channel handed over while
// the previous request was on its way (the kernel keeps up to 16 batches in
// flight); a linger makes them fewer and larger, and delays every message
// by up to its length. Measured against kfake, 1,000,000 messages of 100
// bytes took about 1,200 produce requests without a linger and 190 with
// 10ms (franz-go's own default), at rates within the noise of each other:
// the default keeps the latency.
func WithLinger(d time.Duration) Option {
	return func(c *config) { c.linger = d }
}

// WithPollWait bounds how long one receive waits for records before
// returning none, and how long the broker holds a fetch open (Kafka's
// fetch.max.wait.ms; default 500ms).
func WithPollWait(d time.Duration) Option {
	return func(c *config) { c.pollWait = d }
}

// WithDeliveryTimeout bounds how long the client retries one record against
// an unreachable or failing cluster before the send fails and the kernel's
// retry policy takes over (default 30s).
func WithDeliveryTimeout(d time.Duration) Option {
	return func(c *config) { c.delivery = d }
}

// WithGroupTimeouts sets the consumer group's session timeout (default 45s:
// how long a silent member keeps its partitions), heartbeat interval
// (default 3s: how soon a member notices a rebalance) and rebalance timeout
// (default 60s). Zero keeps a default.
func WithGroupTimeouts(session, heartbeat, rebalance time.Duration) Option {
	return func(c *config) {
		if session != 0 {
			c.session = session
		}
		if heartbeat != 0 {
			c.heartbeat = heartbeat
		}
		if rebalance != 0 {
			c.rebalance = rebalance
		}
	}
}

// WithMaxPayload sets the largest payload accepted (default 960,000 bytes,
// under Kafka's default message.max.bytes); larger messages go to the
// emitter's dead-letter channel with swarm.ErrTooLarge. Raise it only with
// the topic's max.message.bytes.
func WithMaxPayload(n int) Option {
	return func(c *config) { c.maxPayload = n }
}

// WithMaxUncommitted bounds the records of one partition that the broker
// holds received but not yet committable (default 65536): an ack out of
// order waits until the records before it are settled, since Kafka commits
// one offset per partition. When a partition reaches the bound (give or take
// one receive batch) its fetching pauses until the oldest delivery is settled
// and the backlog halves; the other partitions go on.
func WithMaxUncommitted(n int) Option {
	return func(c *config) { c.maxHeld = n }
}

// WithCommitInterval sets the least time between two offset commits
// (default 50ms; 0: commit as soon as acks arrive, one commit at a time).
// Acks within an interval are committed together. A member that dies
// without closing has its acks since the last commit redelivered to the
// partition's next owner (at least once); Close, and a rebalance that takes
// a partition away, commit at once.
func WithCommitInterval(d time.Duration) Option {
	return func(c *config) { c.commitEvery = d }
}

// WithClientOpts appends franz-go options to both clients the broker runs
// (producer and group consumer), after the broker's own, so they win. It is
// the escape hatch for settings without a dedicated option; options that
// change group consuming or committing can break the broker's guarantees.
func WithClientOpts(opts ...kgo.Opt) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

func (c *config) invalid(err error) {
	if c.invalidOption == nil {
		c.invalidOption = err
	}
}

// validate checks the settings; errors name the setting, never a secret.
func (c *config) validate(topic string) error {
	if c.invalidOption != nil {
		return c.invalidOption
	}
	if topic == "" {
		return errors.New("topic name is empty")
	}
	if len(c.brokers) == 0 {
		return errors.New("no seed brokers: WithBrokers needs at least one host:port")
	}
	for _, b := range c.brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("seed broker %q is not host:port: %w", b, err)
		}
	}
	if c.group == "" {
		return errors.New("consumer group name is empty")
	}
	if c.deadLetter == topic {
		return fmt.Errorf("dead-letter topic %q is the topic itself", topic)
	}
	if c.partitions < 1 && c.partitions != -1 {
		return fmt.Errorf("partitions is %d, want 1 or more (or -1 for the cluster default)", c.partitions)
	}
	if c.replication < 1 && c.replication != -1 {
		return fmt.Errorf("replication factor is %d, want 1 or more (or -1 for the cluster default)", c.replication)
	}
	if c.maxHeld < 1 {
		return fmt.Errorf("max uncommitted is %d records, want 1 or more", c.maxHeld)
	}
	if c.maxPayload < 1 {
		return fmt.Errorf("max payload is %d bytes, want 1 or more", c.maxPayload)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"dial timeout", c.dialTimeout}, {"setup timeout", c.setupTimeout},
		{"poll wait", c.pollWait}, {"delivery timeout", c.delivery},
		{"session timeout", c.session}, {"heartbeat interval", c.heartbeat},
		{"rebalance timeout", c.rebalance},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s is %v, want a positive duration", d.name, d.v)
		}
	}
	if c.commitEvery < 0 {
		return fmt.Errorf("commit interval is %v, want 0 or more", c.commitEvery)
	}
	if c.linger < 0 {
		return fmt.Errorf("linger is %v, want 0 or more", c.linger)
	}
	if c.heartbeat >= c.session {
		return fmt.Errorf("heartbeat interval %v must be shorter than the session timeout %v", c.heartbeat, c.session)
	}
	if _, err := c.mechanism(); err != nil {
		return err
	}
	return nil
}

// mechanism builds the SASL mechanism, or nil without WithSASL.
func (c *config) mechanism() (sasl.Mechanism, error) {
	if c.saslMech == "" && c.saslUser == "" && c.saslPass == "" {
		return nil, nil
	}
	if c.saslUser == "" {
		return nil, fmt.Errorf("SASL %s: user is empty", c.saslMech)
	}
	switch c.saslMech {
	case SASLPlain:
		return plain.Auth{User: c.saslUser, Pass: c.saslPass}.AsMechanism(), nil
	case SASLScramSHA256:
		return scram.Auth{User: c.saslUser, Pass: c.saslPass}.AsSha256Mechanism(), nil
	case SASLScramSHA512:
		return scram.Auth{User: c.saslUser, Pass: c.saslPass}.AsSha512Mechanism(), nil
	default:
		return nil, fmt.Errorf("SASL mechanism %q is unknown, want %s, %s or %s",
			c.saslMech, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
}

// common are the client options both clients share: where and how to
// connect.
func (c *config) common() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.brokers...),
		kgo.DialTimeout(c.dialTimeout),
		kgo.ClientID("swarm"),
		// After a failure (broker restart, leader move) the client refreshes
		// metadata to find the partition again; kgo spaces refreshes 5s
		// apart by default, which stalls sends that long. Kafka's Java
		// client retries within 100ms; 1s keeps the load low.
		kgo.MetadataMinAge(time.Second),
	}
	if c.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(c.tls.Clone()))
	}
	if m, _ := c.mechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts
}

// producerOpts configure the client that sends, re-sends (Nack) and
// dead-letters.
func (c *config) producerOpts() []kgo.Opt {
	opts := append(c.common(),
		kgo.ProducerLinger(c.linger),
		kgo.RecordDeliveryTimeout(c.delivery),
		// Wait for every in-sync replica: an accepted message survives
		// the loss of its leader.
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	return append(opts, c.clientOpts...)
}
