// Package nats is the swarm broker on NATS JetStream.
//
// Each queue is a JetStream stream (file storage, work-queue retention by
// default) capturing the subject named like the queue and its category
// subjects <queue>.category.<category> (the category escaped into one
// token), read through one durable pull consumer ("swarm" unless
// WithConsumer names another) that every broker of the queue shares as
// competing consumers. A message goes to its category's subject with no
// header unless it has attributes; its id is its stream sequence
// (stream:sequence), or the emitted id sent as Nats-Msg-Id with
// WithDeduplication, so that the stream stores a retried publish once. On
// an existing stream of other subjects, category and id travel in the
// Swarm-Category and Swarm-Id headers instead. Emits are published
// asynchronously as a batch and confirmed by the stream's
// acknowledgements. A delivery's attempt is the server's delivery count;
// failed deliveries are naked with the kernel's redelivery delay, slow ones
// are kept with in-progress acks, and dead letters go to the stream of the
// queue "<queue>.dlq", with category and id in headers.
//
// WithEmbeddedServer (or RunServer and WithServer) runs the NATS server
// inside the process: a durable queue with no infrastructure.
//
// Importing the package registers the URL scheme nats:
// swarm.Open("nats://127.0.0.1:4222/orders").
package nats

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// Broker is a connection to one queue on a NATS JetStream server. It is safe
// for concurrent use.
type Broker struct {
	k *kernel.Kernel
}

// New connects to the server, creates the queue's stream and durable
// consumer if they do not exist (an existing stream is used as it is), and
// returns the broker. It fails with swarm.ErrConfig when an option is
// invalid, or with an error naming the server and queue (never a
// credential) when the server cannot be reached or the stream or consumer
// cannot be set up.
func New(queue string, opts ...Option) (*Broker, error) {
	c, err := newConfig(queue, opts)
	if err != nil {
		return nil, err
	}
	cfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	d, err := open(queue, c, cfg)
	if err != nil {
		return nil, err
	}
	k := kernel.New(cfg, d.where, d)
	d.k.Store(k)
	return &Broker{k: k}, nil
}

// Close flushes emits, settles acks already sent, naks the deliveries still
// unsettled so that another consumer gets them at once, and closes the
// connection (unless it came from WithConn). The stream and its messages
// stay.
func (b *Broker) Close() error { return b.k.Close() }

// Kernel returns the kernel running the broker's channels.
func (b *Broker) Kernel() *kernel.Kernel { return b.k }

// open connects and sets up the stream and the consumer.
func open(queue string, c *config, cfg kernel.Config) (*driver, error) {
	d := &driver{
		subject:    queue,
		dlqSubject: c.deadLetter,
		apiTimeout: c.apiTimeout,
		fetchWait:  c.fetchWait,
		maxBatch:   c.maxBatch,
		inFlight:   cfg.AckCapacity,
		lease:      cfg.TimeToFlight,
	}
	var handlers []natsgo.Option
	if c.conn == nil {
		handlers = d.connHandlers()
	}
	nc, owned, release, where, err := connect(queue, c, handlers...)
	if err != nil {
		return nil, err
	}
	d.nc, d.ownConn, d.release, d.where = nc, owned, release, where
	fail := func(err error) (*driver, error) {
		if d.pub != nil {
			d.pub.close()
		}
		if owned {
			nc.Close()
		}
		if release != nil {
			release()
		}
		return nil, err
	}
	d.maxPayload = max(int(nc.MaxPayload())-headerReserve, 1)
	d.pollOnly = olderThan(nc.ConnectedServerVersion(), 2, 10)
	d.js, err = jetstream.New(nc,
		jetstream.WithDefaultTimeout(c.apiTimeout),
		jetstream.WithPublishAsyncTimeout(c.pubTimeout))
	if err != nil {
		return fail(fmt.Errorf("nats: JetStream on %s: %w", where, err))
	}
	if d.pub, err = newPublisher(nc, c.pubTimeout); err != nil {
		return fail(fmt.Errorf("nats: publisher on %s: %w", where, err))
	}
	d.dedup = c.dedup
	d.stream = streamConfig(c, c.stream, queue)
	d.dlqStream = streamConfig(c, streamName(c.deadLetter), c.deadLetter)
	d.consumer = jetstream.ConsumerConfig{
		Durable:       c.consumer,
		Description:   "swarm consumer of " + queue,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.TimeToFlight,
		// The kernel counts attempts and dead-letters; the server never
		// drops a message on its own.
		MaxDeliver: -1,
		// The kernel bounds deliveries in flight per broker; a server-side
		// bound shared by all of them would starve some.
		MaxAckPending: -1,
		// FilterSubject: set by setup, which knows the stream's subjects.
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*c.apiTimeout)
	defer cancel()
	if err := d.setup(ctx); err != nil {
		return fail(err)
	}
	return d, nil
}

// connect returns the connection the options name, whether the broker owns
// it, what releases an embedded server, and the broker's name for errors.
func connect(queue string, c *config, handlers ...natsgo.Option) (nc *natsgo.Conn, owned bool, release func(), where string, err error) {
	switch {
	case c.conn != nil:
		return c.conn, false, nil, "nats://" + hostsOf(c.conn.ConnectedUrlRedacted()) + "/" + queue, nil
	case c.server != nil || c.storeDir != "":
		s := c.server
		if s == nil {
			if s, release, err = acquireEmbedded(c.storeDir); err != nil {
				return nil, false, nil, "", err
			}
		}
		where = "nats://embedded/" + queue
		nc, err = natsgo.Connect("", append(handlers, natsgo.InProcessServer(s.srv), natsgo.Name(c.name),
			natsgo.MaxReconnects(-1), natsgo.ReconnectWait(c.reconnectWait))...)
		if err != nil {
			if release != nil {
				release()
			}
			return nil, false, nil, "", fmt.Errorf("nats: connect to %s: %w", where, err)
		}
		return nc, true, release, where, nil
	}
	hosts := make([]string, len(c.urls))
	for i, u := range c.urls {
		hosts[i] = hostsOf(u)
	}
	where = "nats://" + strings.Join(hosts, ",") + "/" + queue
	opts := append(handlers,
		natsgo.Name(c.name),
		natsgo.Timeout(c.connectTimeout),
		natsgo.MaxReconnects(-1), // forever: the kernel's sends and receives ride it out
		natsgo.ReconnectWait(c.reconnectWait),
		natsgo.ReconnectJitter(c.reconnectWait/2, c.reconnectWait/2),
	)
	if c.user != "" {
		opts = append(opts, natsgo.UserInfo(c.user, c.password))
	}
	if c.token != "" {
		opts = append(opts, natsgo.Token(c.token))
	}
	if c.credsFile != "" {
		opts = append(opts, natsgo.UserCredentials(c.credsFile))
	}
	if c.nkeyFile != "" {
		o, err := natsgo.NkeyOptionFromSeed(c.nkeyFile)
		if err != nil {
			return nil, false, nil, "", fmt.Errorf("nats: NKey seed file %s: %w", c.nkeyFile, redact(err, c))
		}
		opts = append(opts, o)
	}
	if c.tls != nil {
		opts = append(opts, natsgo.Secure(c.tls))
	}
	nc, err = natsgo.Connect(strings.Join(c.urls, ","), opts...)
	if err != nil {
		return nil, false, nil, "", fmt.Errorf("nats: connect to %s: %w", where, redact(err, c))
	}
	return nc, true, nil, where, nil
}

// olderThan reports whether a server version "major.minor.patch" is older
// than major.minor; an unknown version is taken as current.
func olderThan(version string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(version, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma < major || (ma == major && mi < minor)
}

// hostsOf returns the host part of a server URL, without user info, or
// "(server)" when it does not parse.
func hostsOf(raw string) string {
	if !strings.Contains(raw, "://") {
		raw = "nats://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(server)"
	}
	return u.Host
}

// redact returns err, or an error with the same text less every secret of
// c when the text holds one (a client error may quote a URL).
func redact(err error, c *config) error {
	msg := err.Error()
	secrets := []string{c.password, c.token}
	for _, u := range c.urls {
		secrets = append(secrets, urlSecret(u))
	}
	clean := msg
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "xxxxx")
		}
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}

// urlSecret is the password (or token) in a URL's user info, found without
// parsing so that it works on URLs that do not parse.
func urlSecret(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return ""
	}
	rest := raw[i+3:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	info := rest[:at]
	if k := strings.IndexByte(info, ':'); k >= 0 {
		return info[k+1:]
	}
	return info // a token
}

func init() {
	swarm.Register("nats", func(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
		queue, nopts, err := parseURL(u)
		if err != nil {
			return nil, err
		}
		return New(queue, append(nopts, WithKernel(opts...))...)
	})
}

// parseURL turns nats://[user:password@|token@]host[:port][,host:port...]/queue?options
// into a queue name and options. An empty host means 127.0.0.1:4222, or the
// embedded server with embedded=<dir>. Query parameters: server (more
// servers, repeatable), consumer, stream, dlq, storage (file, memory),
// retention (workqueue, interest, limits), replicas, creds, nkey, tls=true,
// dedup=true,
// embedded, fetchwait. Errors name the URL without its password.
func parseURL(u *url.URL) (string, []Option, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: nats: URL %s: %s", swarm.ErrConfig, u.Redacted(), fmt.Sprintf(format, args...))
	}
	if u.Scheme != "nats" {
		return "", nil, bad("scheme %q is not nats", u.Scheme)
	}
	queue := strings.TrimPrefix(u.Path, "/")
	if queue == "" {
		return "", nil, bad("no queue: want nats://host:port/queue")
	}
	q := u.Query()
	var opts []Option
	var servers []string
	if u.Host != "" {
		for _, h := range strings.Split(u.Host, ",") {
			servers = append(servers, "nats://"+h)
		}
	}
	servers = append(servers, q["server"]...)
	if dir := q.Get("embedded"); dir != "" {
		if len(servers) > 0 {
			return "", nil, bad("embedded=%s excludes a server address", dir)
		}
		opts = append(opts, WithEmbeddedServer(dir))
	} else if len(servers) > 0 {
		opts = append(opts, WithURL(servers...))
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			opts = append(opts, WithUserPassword(u.User.Username(), pw))
		} else {
			opts = append(opts, WithToken(u.User.Username()))
		}
	}
	for key, vs := range q {
		v := vs[len(vs)-1]
		switch key {
		case "server", "embedded":
		case "consumer":
			opts = append(opts, WithConsumer(v))
		case "stream":
			opts = append(opts, WithStream(v))
		case "dlq":
			opts = append(opts, WithDeadLetterQueue(v))
		case "creds":
			opts = append(opts, WithCredsFile(v))
		case "nkey":
			opts = append(opts, WithNKeyFile(v))
		case "tls", "dedup":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return "", nil, bad("%s=%q, want true or false", key, v)
			}
			switch {
			case !on:
			case key == "tls":
				opts = append(opts, WithTLS(nil))
			default:
				opts = append(opts, WithDeduplication())
			}
		case "storage":
			s, ok := map[string]jetstream.StorageType{"file": jetstream.FileStorage, "memory": jetstream.MemoryStorage}[v]
			if !ok {
				return "", nil, bad("storage=%q, want file or memory", v)
			}
			opts = append(opts, WithStorage(s))
		case "retention":
			r, ok := map[string]jetstream.RetentionPolicy{"workqueue": jetstream.WorkQueuePolicy,
				"interest": jetstream.InterestPolicy, "limits": jetstream.LimitsPolicy}[v]
			if !ok {
				return "", nil, bad("retention=%q, want workqueue, interest or limits", v)
			}
			opts = append(opts, WithRetention(r))
		case "replicas":
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil {
				return "", nil, bad("replicas=%q is not a number", v)
			}
			opts = append(opts, WithReplicas(n))
		case "fetchwait":
			d, err := time.ParseDuration(v)
			if err != nil {
				return "", nil, bad("fetchwait=%q is not a duration", v)
			}
			opts = append(opts, WithFetchWait(d))
		default:
			return "", nil, bad("unknown parameter %q", key)
		}
	}
	return queue, opts, nil
}
