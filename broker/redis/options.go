package redis

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/swarm-go/swarm"
)

// DefaultAddr is the server New connects to when no WithAddr is given.
const DefaultAddr = "127.0.0.1:6379"

// DefaultGroup is the consumer group every broker joins unless WithGroup
// names another.
const DefaultGroup = "swarm"

// DefaultMaxLen is the approximate bound on a stream's length (MAXLEN ~).
const DefaultMaxLen = 1_000_000

// Option configures a Redis broker. Options are checked by New, which fails
// with swarm.ErrConfig naming the setting when one is invalid.
type Option func(*config)

type config struct {
	kernel []swarm.Option

	// connection
	client       goredis.UniversalClient
	connSet      []string // names of connection options given, to reject them beside WithClient
	addrs        []string
	username     string
	password     string
	db           int
	tls          *tls.Config
	masterName   string
	cluster      bool
	dialTimeout  time.Duration
	readTimeout  time.Duration
	writeTimeout time.Duration

	// streams
	stream      string
	deadLetter  string
	group       string
	consumer    string
	maxLen      int64
	block       time.Duration
	maxPayload  int
	keepAcked   bool
	errs        []error
	persistence *bool
}

func (c *config) conn(name string) { c.connSet = append(c.connSet, name) }

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// WithKernel sets the kernel options (policy, capacities, retries, lease,
// error channel, ...). WithTimeToFlight is the lease: a delivery idle that
// long is claimed by another consumer.
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) { c.kernel = append(c.kernel, opts...) }
}

// WithAddr sets the server addresses (host:port). One address opens a plain
// client; several open a cluster client; with WithMasterName they are the
// sentinels. Default: 127.0.0.1:6379.
func WithAddr(addrs ...string) Option {
	return func(c *config) {
		c.conn("WithAddr")
		if len(addrs) == 0 {
			c.fail("WithAddr: no address given")
		}
		for _, a := range addrs {
			if a == "" {
				c.fail("WithAddr: empty address")
			}
		}
		c.addrs = append([]string(nil), addrs...)
	}
}

// WithUsername sets the ACL user name (Redis 6+). It is never logged nor
// put in an error.
func WithUsername(user string) Option {
	return func(c *config) { c.conn("WithUsername"); c.username = user }
}

// WithPassword sets the password (AUTH). It is never logged nor put in an
// error.
func WithPassword(password string) Option {
	return func(c *config) { c.conn("WithPassword"); c.password = password }
}

// WithTLS connects over TLS with cfg (ElastiCache in-transit encryption,
// rediss:// servers). A nil cfg means a default TLS config.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) {
		c.conn("WithTLS")
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c.tls = cfg
	}
}

// WithDB selects the logical database (not available on a cluster).
func WithDB(db int) Option {
	return func(c *config) {
		c.conn("WithDB")
		if db < 0 {
			c.fail("WithDB: database %d is negative", db)
		}
		c.db = db
	}
}

// WithMasterName connects through Redis Sentinel: the WithAddr addresses
// are the sentinels, name the monitored master.
func WithMasterName(name string) Option {
	return func(c *config) { c.conn("WithMasterName"); c.masterName = name }
}

// WithCluster opens a cluster client even with a single address (a cluster
// configuration endpoint such as ElastiCache's).
func WithCluster() Option {
	return func(c *config) { c.conn("WithCluster"); c.cluster = true }
}

// WithDialTimeout bounds connecting to the server (default 5s).
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) { c.conn("WithDialTimeout"); c.dialTimeout = positive(c, "WithDialTimeout", d) }
}

// WithReadTimeout bounds reading one reply (default 5s; a blocking read
// waits its block time on top).
func WithReadTimeout(d time.Duration) Option {
	return func(c *config) { c.conn("WithReadTimeout"); c.readTimeout = positive(c, "WithReadTimeout", d) }
}

// WithWriteTimeout bounds writing one command or pipeline (default: the read timeout).
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) { c.conn("WithWriteTimeout"); c.writeTimeout = positive(c, "WithWriteTimeout", d) }
}

func positive(c *config, name string, d time.Duration) time.Duration {
	if d <= 0 {
		c.fail("%s: %v is not a positive duration", name, d)
	}
	return d
}

// WithClient uses an existing client (plain, cluster, sentinel) instead of
// dialing one. The broker does not close it. It cannot be combined with the
// connection options (WithAddr, WithPassword, WithTLS, ...).
func WithClient(client goredis.UniversalClient) Option {
	return func(c *config) {
		if client == nil {
			c.fail("WithClient: nil client")
		}
		c.client = client
	}
}

// WithStream sets the stream key (default: the queue name). Use a hash tag
// ("{orders}") on a cluster to keep the stream and its dead-letter stream
// in one slot.
func WithStream(key string) Option {
	return func(c *config) {
		if key == "" {
			c.fail("WithStream: empty stream key")
		}
		c.stream = key
	}
}

// WithDeadLetterStream sets the stream that receives dead letters (default:
// the stream key with ".dlq" appended).
func WithDeadLetterStream(key string) Option {
	return func(c *config) {
		if key == "" {
			c.fail("WithDeadLetterStream: empty stream key")
		}
		c.deadLetter = key
	}
}

// WithGroup sets the consumer group (default "swarm"). Brokers of one group
// compete for messages; each group receives every message.
func WithGroup(name string) Option {
	return func(c *config) {
		if name == "" {
			c.fail("WithGroup: empty group name")
		}
		c.group = name
	}
}

// WithConsumer sets this broker's consumer name in its group (default:
// host name, process id and a random suffix, unique per broker). Two live
// brokers must never share a name.
func WithConsumer(name string) Option {
	return func(c *config) {
		if name == "" {
			c.fail("WithConsumer: empty consumer name")
		}
		c.consumer = name
	}
}

// WithMaxLen bounds the stream to about n entries (MAXLEN ~ n on the last
// XADD of each emitted batch; default 1,000,000). Past it the oldest
// entries are trimmed, read or not. 0 disables trimming.
func WithMaxLen(n int64) Option {
	return func(c *config) {
		if n < 0 {
			c.fail("WithMaxLen: %d is negative", n)
		}
		c.maxLen = n
	}
}

// WithBlock sets how long one receive waits on the server for new entries
// (XREADGROUP BLOCK; default 250ms). It bounds how long Close waits for a
// receive in progress and how late a local redelivery is noticed.
func WithBlock(d time.Duration) Option {
	return func(c *config) { c.block = positive(c, "WithBlock", d) }
}

// WithMaxPayload sets the largest payload sent (default 8 MiB); larger ones
// go to the emitter's dead-letter channel with swarm.ErrTooLarge.
func WithMaxPayload(n int) Option {
	return func(c *config) {
		if n <= 0 {
			c.fail("WithMaxPayload: %d is not positive", n)
		}
		c.maxPayload = n
	}
}

// WithKeepAcked keeps acked entries in the stream (XACK only): only MAXLEN
// trims it. By default acked entries go with the next trim of the stream
// (XTRIM MINID ~, every 1,024 acks and when the stream is idle), which
// keeps whatever any group of the stream has not read or has pending, so
// acked entries linger until that trim. Use it to keep a stream's history
// for groups created later.
func WithKeepAcked() Option {
	return func(c *config) { c.keepAcked = true }
}

// WithPersistent declares whether accepted messages survive a server
// restart. By default New asks the server (CONFIG GET appendonly) and
// declares persistence only with the append-only file on.
func WithPersistent(ok bool) Option {
	return func(c *config) { c.persistence = &ok }
}

// newConfig applies opts over the defaults and validates the result.
func newConfig(queue string, opts []Option) (*config, error) {
	c := &config{
		group:      DefaultGroup,
		maxLen:     DefaultMaxLen,
		block:      250 * time.Millisecond,
		maxPayload: 8 << 20,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(c)
		}
	}
	if queue == "" && c.stream == "" {
		c.fail("queue name is empty")
	}
	if c.stream == "" {
		c.stream = queue
	}
	if c.deadLetter == "" {
		c.deadLetter = c.stream + ".dlq"
	}
	if c.deadLetter == c.stream {
		c.fail("dead-letter stream %q is the stream itself", c.stream)
	}
	if c.client != nil && len(c.connSet) > 0 {
		c.fail("WithClient cannot be combined with %v: configure the client instead", c.connSet)
	}
	if len(c.addrs) == 0 {
		c.addrs = []string{DefaultAddr}
	}
	if c.consumer == "" {
		c.consumer = consumerName()
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, fmt.Errorf("%w: redis: %w", swarm.ErrConfig, err)
	}
	return c, nil
}

// options turns the connection settings into go-redis options.
func (c *config) options() *goredis.UniversalOptions {
	return &goredis.UniversalOptions{
		Addrs:         c.addrs,
		Username:      c.username,
		Password:      c.password,
		DB:            c.db,
		TLSConfig:     c.tls,
		MasterName:    c.masterName,
		IsClusterMode: c.cluster,
		DialTimeout:   c.dialTimeout,
		ReadTimeout:   c.readTimeout,
		WriteTimeout:  c.writeTimeout,
		// Deadlines of the kernel's contexts bound socket I/O too.
		ContextTimeoutEnabled: true,
	}
}

// consumerName is unique per broker: two brokers of one process must not
// share a consumer, or one would settle the other's deliveries.
func consumerName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "swarm"
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(r[:])
}
