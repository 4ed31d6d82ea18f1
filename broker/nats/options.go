package nats

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm"
)

// DefaultURL is the server New connects to when no WithURL, WithConn or
// embedded server is given.
const DefaultURL = natsgo.DefaultURL

// DefaultConsumer is the durable consumer every broker of a queue shares
// (competing consumers) unless WithConsumer names another.
const DefaultConsumer = "swarm"

// Option configures a NATS broker. Options are checked by New, which fails
// with swarm.ErrConfig naming the setting when one is invalid.
type Option func(*config)

type config struct {
	kernel []swarm.Option

	// connection
	conn           *natsgo.Conn
	connSet        []string // connection options given, rejected beside WithConn
	urls           []string
	user, password string
	token          string
	credsFile      string
	nkeyFile       string
	tls            *tls.Config
	connectTimeout time.Duration
	reconnectWait  time.Duration
	name           string

	// embedded server
	storeDir string
	server   *Server

	// JetStream
	stream     string
	consumer   string
	deadLetter string
	storage    jetstream.StorageType
	retention  jetstream.RetentionPolicy
	replicas   int
	apiTimeout time.Duration
	pubTimeout time.Duration
	fetchWait  time.Duration
	maxBatch   int
	dedup      bool

	errs []error
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

func (c *config) markConn(name string) { c.connSet = append(c.connSet, name) }

// WithKernel sets the kernel options (policy, capacities, retries, lease,
// error channel, ...). WithTimeToFlight is the consumer's AckWait: a delivery
// not acked, nacked or extended within it is redelivered.
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) { c.kernel = append(c.kernel, opts...) }
}

// WithURL sets the servers to connect to: nats:// or tls:// URLs, or
// host:port, several for a cluster (the client fails over and learns the
// rest of the cluster from the server). Default: nats://127.0.0.1:4222.
// Credentials in a URL (nats://user:pass@host) are used but never logged
// nor put in an error.
func WithURL(urls ...string) Option {
	return func(c *config) {
		c.markConn("WithURL")
		if len(urls) == 0 {
			c.fail("WithURL: no URL given")
		}
		for _, u := range urls {
			if strings.TrimSpace(u) == "" {
				c.fail("WithURL: empty URL")
			}
		}
		c.urls = append(c.urls, urls...)
	}
}

// WithUserPassword authenticates with a user name and password. The
// password is never logged nor put in an error.
func WithUserPassword(user, password string) Option {
	return func(c *config) {
		c.markConn("WithUserPassword")
		if user == "" {
			c.fail("WithUserPassword: empty user name")
		}
		c.user, c.password = user, password
	}
}

// WithToken authenticates with a token. It is never logged nor put in an
// error.
func WithToken(token string) Option {
	return func(c *config) {
		c.markConn("WithToken")
		if token == "" {
			c.fail("WithToken: empty token")
		}
		c.token = token
	}
}

// WithCredsFile authenticates with a decentralized-auth credentials file
// (user JWT and NKey seed, as written by nsc).
func WithCredsFile(path string) Option {
	return func(c *config) {
		c.markConn("WithCredsFile")
		if path == "" {
			c.fail("WithCredsFile: empty path")
		}
		c.credsFile = path
	}
}

// WithNKeyFile authenticates with the NKey whose seed is in the file at
// path. The seed is read when New connects, never logged.
func WithNKeyFile(path string) Option {
	return func(c *config) {
		c.markConn("WithNKeyFile")
		if path == "" {
			c.fail("WithNKeyFile: empty path")
		}
		c.nkeyFile = path
	}
}

// WithTLS connects over TLS with cfg (client certificates, root CAs). A nil
// cfg means a default TLS config that verifies the server.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) {
		c.markConn("WithTLS")
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c.tls = cfg
	}
}

// WithConnectTimeout bounds dialing one server (default 2s).
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) {
		c.markConn("WithConnectTimeout")
		c.connectTimeout = positive(c, "WithConnectTimeout", d)
	}
}

// WithReconnectWait sets the wait between reconnect attempts to the same
// server (default 250ms, with jitter). The client reconnects forever and
// buffers publishes meanwhile; the kernel retries what fails.
func WithReconnectWait(d time.Duration) Option {
	return func(c *config) {
		c.markConn("WithReconnectWait")
		c.reconnectWait = positive(c, "WithReconnectWait", d)
	}
}

// WithConnName names the connection as the server's monitoring shows it
// (default "swarm <queue>").
func WithConnName(name string) Option {
	return func(c *config) { c.markConn("WithConnName"); c.name = name }
}

// WithConn uses an existing connection instead of dialing. The broker does
// not close it; its reconnect settings are the caller's. It cannot be
// combined with other connection options.
func WithConn(nc *natsgo.Conn) Option {
	return func(c *config) {
		if nc == nil {
			c.fail("WithConn: nil connection")
		}
		c.conn = nc
	}
}

// WithEmbeddedServer runs a NATS server with JetStream inside the process,
// storing its streams in storeDir, and connects to it without TCP: a
// durable broker with no infrastructure. Brokers opened with the same
// storeDir share one server, which stops when the last of them closes. Use
// RunServer instead to control the server's life or give it a TCP port.
func WithEmbeddedServer(storeDir string) Option {
	return func(c *config) {
		c.markConn("WithEmbeddedServer")
		if storeDir == "" {
			c.fail("WithEmbeddedServer: empty store directory")
		}
		c.storeDir = storeDir
	}
}

// WithServer connects in-process to s, a server started by RunServer. The
// broker does not stop it.
func WithServer(s *Server) Option {
	return func(c *config) {
		c.markConn("WithServer")
		if s == nil {
			c.fail("WithServer: nil server")
		}
		c.server = s
	}
}

// WithStream names the JetStream stream of the queue (default: the queue
// name with characters a stream name cannot hold replaced by '_'). An
// existing stream is used as it is, provided it captures the queue's
// subject; unless its subjects are exactly the two this broker creates
// (the queue's and its category subjects, see the package doc), messages
// carry their category and id in headers on the queue's subject.
func WithStream(name string) Option {
	return func(c *config) {
		if name == "" || strings.ContainsAny(name, streamNameBad) {
			c.fail("WithStream: %q is not a valid stream name (empty, or has one of %q)", name, streamNameBad)
		}
		c.stream = name
	}
}

// WithConsumer names the durable pull consumer (default "swarm"). Brokers
// with one consumer name compete for the queue's messages; with
// WithRetention(jetstream.InterestPolicy) or LimitsPolicy, brokers with
// different names each get every message.
func WithConsumer(name string) Option {
	return func(c *config) {
		if name == "" || strings.ContainsAny(name, streamNameBad) {
			c.fail("WithConsumer: %q is not a valid consumer name (empty, or has one of %q)", name, streamNameBad)
		}
		c.consumer = name
	}
}

// WithDeadLetterQueue names the queue that receives dead letters (default:
// the queue name with ".dlq" appended). Open a broker on it to read them.
func WithDeadLetterQueue(queue string) Option {
	return func(c *config) {
		if err := checkQueue(queue); err != nil {
			c.fail("WithDeadLetterQueue: %v", err)
		}
		c.deadLetter = queue
	}
}

// WithStorage sets the storage of streams this broker creates:
// jetstream.FileStorage (default, survives a server restart) or
// jetstream.MemoryStorage.
func WithStorage(s jetstream.StorageType) Option {
	return func(c *config) {
		if s != jetstream.FileStorage && s != jetstream.MemoryStorage {
			c.fail("WithStorage: unknown storage type %d", s)
		}
		c.storage = s
	}
}

// WithRetention sets the retention of streams this broker creates:
// jetstream.WorkQueuePolicy (default: a message is deleted once acked, one
// consumer per queue), InterestPolicy (deleted once every consumer acked it)
// or LimitsPolicy (kept until the stream's limits).
func WithRetention(r jetstream.RetentionPolicy) Option {
	return func(c *config) {
		if r != jetstream.WorkQueuePolicy && r != jetstream.InterestPolicy && r != jetstream.LimitsPolicy {
			c.fail("WithRetention: unknown retention policy %d", r)
		}
		c.retention = r
	}
}

// WithReplicas sets the replicas of streams this broker creates on a
// clustered server (default 1; at most 5).
func WithReplicas(n int) Option {
	return func(c *config) {
		if n < 1 || n > 5 {
			c.fail("WithReplicas: %d replicas, want 1 to 5", n)
		}
		c.replicas = n
	}
}

// WithRequestTimeout bounds each JetStream API request (stream and consumer
// set-up; default 5s).
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) { c.apiTimeout = positive(c, "WithRequestTimeout", d) }
}

// WithPublishTimeout bounds the wait for the server's acknowledgement of a
// publish (default 5s); an unacknowledged publish is retried by the kernel
// with the same message id (see WithDeduplication for storing it once).
func WithPublishTimeout(d time.Duration) Option {
	return func(c *config) { c.pubTimeout = positive(c, "WithPublishTimeout", d) }
}

// WithDeduplication sends each message's id as Nats-Msg-Id, so that the
// stream stores a publish the kernel retried (its acknowledgement lost or
// late) once, if the retry comes within the stream's duplicate window (2
// minutes unless the stream says otherwise); deliveries then carry that id.
//
// Without it a message's id is its stream sequence (stream:sequence), and a
// retried publish the server had stored is stored again, under a sequence
// of its own: delivered twice, at least once, as every delivery is. It is
// off by default because the header and the server's de-duplication cost a
// third of its work on small messages: a 100-byte publish cost nats-server
// 2.9 12.4-15.5us of CPU with the id in Nats-Msg-Id against 10.0-12.9us
// with it in another header (three interleaved runs of 300,000), and any
// header at all costs client and server about a quarter more (BENCHMARKS.md).
func WithDeduplication() Option {
	return func(c *config) { c.dedup = true }
}

// WithFetchWait sets how long a receive waits on an empty queue before the
// kernel asks again (default 500ms). It bounds how long Close may wait for
// an outstanding pull request.
func WithFetchWait(d time.Duration) Option {
	return func(c *config) { c.fetchWait = positive(c, "WithFetchWait", d) }
}

// WithMaxBatch bounds the messages per publish batch and per fetch (default
// 1024).
func WithMaxBatch(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.fail("WithMaxBatch: %d, want 1 or more", n)
		}
		c.maxBatch = n
	}
}
