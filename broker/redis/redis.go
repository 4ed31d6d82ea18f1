// Package redis is the swarm broker on Redis Streams (also Valkey, AWS
// ElastiCache and MemoryDB), through github.com/redis/go-redis/v9.
//
// Each queue is one stream (key: the queue name, or WithStream). Every
// broker joins one consumer group (default "swarm", WithGroup) under a
// consumer name unique to the broker, so brokers of one group compete for
// messages. Emits are pipelined XADDs (MAXLEN ~ trimming); receives are
// XREADGROUP long polls; a delivery left unsettled for the lease (the
// kernel's TimeToFlight) is claimed by another consumer with XAUTOCLAIM and
// redelivered with its attempt count taken from the pending entries list.
// Acks are XACKs; every 1,024 acks, and when the stream is idle, a script
// trims the stream below the oldest entry any group still needs (XTRIM
// MINID ~), so acked entries linger until then. Dead letters move to
// "<stream>.dlq".
//
// Importing the package registers the URL schemes redis and rediss (TLS):
//
//	swarm.Open("redis://127.0.0.1:6379/orders?group=billing")
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// Broker is a connection to one Redis stream, to emit and listen on it. It
// is safe for concurrent use.
type Broker struct {
	k *kernel.Kernel
}

// setupTimeout bounds what New does on the server (creating the group).
const setupTimeout = 15 * time.Second

// New opens the stream of queue on the server WithAddr names (default
// 127.0.0.1:6379), creating the stream and the consumer group if needed.
// It fails with swarm.ErrConfig when an option is invalid, or with the
// server's error when the group cannot be created (server unreachable,
// authentication refused, key of another type). Errors never hold a
// password.
func New(queue string, opts ...Option) (*Broker, error) {
	c, err := newConfig(queue, opts)
	if err != nil {
		return nil, err
	}
	cfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	d := &driver{
		stream:     c.stream,
		deadLetter: c.deadLetter,
		group:      c.group,
		consumer:   c.consumer,
		maxLen:     c.maxLen,
		block:      c.block,
		maxPayload: c.maxPayload,
		deleteAcks: !c.keepAcked,
		lease:      cfg.TimeToFlight,
		out:        map[string]struct{}{},
		delayed:    map[string]int64{},
	}
	d.orphans.Store(true)        // a consumer name may be reused: pick up what it left
	d.untrimmed.Store(trimEvery) // the first ack trims: see trimEvery
	client, owned := c.client, false
	where := "redis://(client)/" + c.stream
	if client == nil {
		o := c.options()
		// go-redis retries a command cut by a dropped connection on a new
		// one; an XREADGROUP whose reply was lost then leaves entries
		// pending that nobody holds. Every new connection triggers the
		// scan that releases them.
		o.OnConnect = func(context.Context, *goredis.Conn) error {
			d.orphans.Store(true)
			return nil
		}
		client, owned = goredis.NewUniversalClient(o), true
		where = "redis://" + strings.Join(c.addrs, ",") + "/" + c.stream
	}
	d.c, d.owned = client, owned
	d.claimEvery = min(max(d.lease/4, 50*time.Millisecond), time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := d.createGroup(ctx); err != nil {
		if owned {
			_ = client.Close()
		}
		return nil, fmt.Errorf("redis: open %s: %w", where, err)
	}
	if c.persistence != nil {
		d.persistent = *c.persistence
	} else {
		d.persistent = appendOnly(ctx, client)
	}
	return &Broker{k: kernel.New(cfg, where, d)}, nil
}

// Close flushes emits, settles acks, releases unsettled deliveries so that
// another consumer claims them at once, and closes the client unless it came
// from WithClient. The stream and its messages stay on the server.
func (b *Broker) Close() error { return b.k.Close() }

// Kernel returns the kernel running the broker's channels.
func (b *Broker) Kernel() *kernel.Kernel { return b.k }

// appendOnly reports whether the server writes an append-only file, the
// only persistence that keeps every accepted message across a restart.
// Servers that refuse CONFIG (managed services) count as not persistent.
func appendOnly(ctx context.Context, c goredis.UniversalClient) bool {
	m, err := c.ConfigGet(ctx, "appendonly").Result()
	return err == nil && m["appendonly"] == "yes"
}

func init() {
	swarm.Register("redis", openURL)
	swarm.Register("rediss", openURL)
}

// openURL opens redis://[user[:password]@]host[:port]/queue?options, or
// rediss:// for TLS. Query parameters: addr (more addresses, repeatable),
// db, group, consumer, stream, dlq, maxlen, block, master, cluster=true,
// keepacked=true.
func openURL(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
	queue, ropts, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	return New(queue, append(ropts, WithKernel(opts...))...)
}

// parseURL turns a URL into a queue name and options. Its errors name the
// URL without its password.
func parseURL(u *url.URL) (string, []Option, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: redis: URL %s: %s", swarm.ErrConfig, u.Redacted(), fmt.Sprintf(format, args...))
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return "", nil, bad("scheme %q is not redis or rediss", u.Scheme)
	}
	queue := strings.TrimPrefix(u.Path, "/")
	if queue == "" {
		return "", nil, bad("no queue: want redis://host:port/queue")
	}
	var opts []Option
	q := u.Query()
	addrs := q["addr"]
	if u.Host != "" {
		addrs = append([]string{u.Host}, addrs...)
	}
	if len(addrs) > 0 {
		opts = append(opts, WithAddr(addrs...))
	}
	if u.User != nil {
		if name := u.User.Username(); name != "" {
			opts = append(opts, WithUsername(name))
		}
		if pw, ok := u.User.Password(); ok {
			opts = append(opts, WithPassword(pw))
		}
	}
	if u.Scheme == "rediss" {
		opts = append(opts, WithTLS(&tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}))
	}
	var errs []error
	for key, vals := range q {
		v := vals[len(vals)-1]
		switch key {
		case "addr":
		case "db":
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, bad("db %q is not a number", v))
			}
			opts = append(opts, WithDB(n))
		case "group":
			opts = append(opts, WithGroup(v))
		case "consumer":
			opts = append(opts, WithConsumer(v))
		case "stream":
			opts = append(opts, WithStream(v))
		case "dlq":
			opts = append(opts, WithDeadLetterStream(v))
		case "master":
			opts = append(opts, WithMasterName(v))
		case "maxlen":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, bad("maxlen %q is not a number", v))
			}
			opts = append(opts, WithMaxLen(n))
		case "block":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, bad("block %q is not a duration", v))
			}
			opts = append(opts, WithBlock(d))
		case "cluster", "keepacked":
			on, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, bad("%s %q is not a boolean", key, v))
			}
			if on && key == "cluster" {
				opts = append(opts, WithCluster())
			} else if on {
				opts = append(opts, WithKeepAcked())
			}
		default:
			errs = append(errs, bad("unknown parameter %q", key))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", nil, err
	}
	return queue, opts, nil
}
