package postgres

import (
	"crypto/tls"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/swarm-go/swarm"
)

// DefaultDSN is the connection string used when neither WithDSN nor WithPool
// is given: the local development server, database "test", no TLS.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Defaults of the options below.
const (
	DefaultTable          = "swarm_queue"    // WithTable
	DefaultMaxPayload     = 1 << 20          // WithMaxPayload
	DefaultTimeout        = 15 * time.Second // WithTimeout
	DefaultConnectTimeout = 5 * time.Second  // WithConnectTimeout
	DefaultMaxConns       = 8                // WithMaxConns

	// DefaultAckCapacity is this broker's bound on deliveries in flight
	// (swarm.WithAckCapacity, through WithKernel), four takes of maxBatch
	// rows where the kernel's own default is 1,024 (and four holds, half
	// the default pool). The kernel lets a receive wait for a quarter of
	// the window: with 1,024 a take leased
	// 500 rows on average (instrumented benchmark run), and a take and
	// its ack cost two commits whatever their size. 100-byte receive+ack
	// read 0.59-0.65x of a raw pgx consumer taking 1,000 rows at a time
	// with 1,024, and 0.71-1.12x with four takes' worth (three interleaved
	// pairs of swarmbench -broker postgres runs).
	DefaultAckCapacity = 4 * maxBatch
)

// Bounds of one statement: messages per send and receive, payload bytes
// per send (raised to the payload limit when that is larger).
const (
	maxBatch      = 1000
	maxBatchBytes = 8 << 20
)

// Option configures a PostgreSQL broker. Invalid values make New fail with
// swarm.ErrConfig naming the option.
type Option func(*config)

type config struct {
	kernel         []swarm.Option
	dsn            string
	pool           *pgxpool.Pool
	tls            *tls.Config
	user, password string
	credentials    bool
	table          string
	channel        string
	deadLetter     string
	maxPayload     int
	timeout        time.Duration
	connectTimeout time.Duration
	maxConns       int
	createTable    bool
}

func defaults() config {
	return config{
		kernel:         []swarm.Option{swarm.WithAckCapacity(DefaultAckCapacity)},
		table:          DefaultTable,
		maxPayload:     DefaultMaxPayload,
		timeout:        DefaultTimeout,
		connectTimeout: DefaultConnectTimeout,
		maxConns:       DefaultMaxConns,
		createTable:    true,
	}
}

// WithKernel sets the kernel options (policy, capacities, retries, lease,
// poll frequency, error channel, ...). They apply over this broker's
// default in-flight bound, DefaultAckCapacity: swarm.WithAckCapacity
// replaces it.
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) { c.kernel = append(c.kernel, opts...) }
}

// WithDSN sets the connection string, as a URL
// ("postgres://user:pass@host:5432/db?sslmode=verify-full") or as key=value
// pairs ("host=db1,db2 dbname=app"). Several hosts are tried in turn; sslmode
// selects TLS. The password never appears in errors or logs. Default:
// DefaultDSN. Ignored with WithPool.
func WithDSN(dsn string) Option {
	return func(c *config) { c.dsn = dsn }
}

// WithPool uses an existing connection pool instead of opening one, so the
// broker shares the application's pool (and its transactions can feed the
// Outbox). Close does not close it. The dedicated LISTEN connection is opened
// with the pool's connection settings. The pool needs MaxConns of 2 or more:
// consumers hold up to half its connections while they handle a batch.
func WithPool(p *pgxpool.Pool) Option {
	return func(c *config) { c.pool = p }
}

// WithTLS forces TLS with cfg on every connection, whatever the DSN's sslmode
// says (no plain-text fallback). When cfg.ServerName is empty it is set to
// the host connected to.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.tls = cfg }
}

// WithCredentials sets the user and password, overriding the DSN's. They are
// never logged nor put in errors.
func WithCredentials(user, password string) Option {
	return func(c *config) { c.user, c.password, c.credentials = user, password, true }
}

// WithTable sets the table holding the queue's messages, optionally
// schema-qualified ("jobs" or "app.jobs"; default "swarm_queue"). Many
// queues share one table; brokers on the same table and queue name compete
// for its messages.
func WithTable(name string) Option {
	return func(c *config) { c.table = name }
}

// WithChannel sets the LISTEN/NOTIFY channel that wakes receivers when
// messages arrive (default: one channel per table and queue, derived from
// their names). Emitters and listeners of one queue must agree on it. Set it
// when a naming policy requires, or to share one channel across queues
// (notifications carry the queue name, so receivers ignore other queues').
func WithChannel(name string) Option {
	return func(c *config) { c.channel = name }
}

// WithDeadLetterQueue names the queue, in the same table, that receives dead
// letters (default: the queue's name with ".dlq" appended). Open a broker on
// it to read them.
func WithDeadLetterQueue(name string) Option {
	return func(c *config) { c.deadLetter = name }
}

// WithMaxPayload sets the largest payload accepted (default 1 MiB, at most
// 512 MiB); larger messages go to the emitter's dead-letter channel with
// swarm.ErrTooLarge.
func WithMaxPayload(n int) Option {
	return func(c *config) { c.maxPayload = n }
}

// WithTimeout bounds each database call of the broker (default 15s) besides
// the caller's context.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// WithConnectTimeout bounds each connection attempt (default 5s).
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) { c.connectTimeout = d }
}

// WithMaxConns sets the size of the pool the broker opens (default 8), not
// counting its one LISTEN connection; 2 or more, since half of a pool at
// most holds consumers' open transactions (see the package's README).
// Ignored with WithPool.
func WithMaxConns(n int) Option {
	return func(c *config) { c.maxConns = n }
}

// WithCreateTable sets whether New creates the table and its index when they
// are absent (default true). Turn it off where the broker's role may not run
// DDL, and create the table with Schema.
func WithCreateTable(create bool) Option {
	return func(c *config) { c.createTable = create }
}
