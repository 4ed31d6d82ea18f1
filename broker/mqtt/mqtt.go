// Package mqtt is the MQTT v5 broker of swarm, on the Eclipse Paho client
// (github.com/eclipse/paho.golang, autopaho for reconnects).
//
// A queue is an MQTT topic. Messages are published at QoS 1 with the
// category, id and attributes as user properties and the payload as binary.
// Listeners join the shared subscription "$share/<group>/<queue>" (group
// "swarm" by default) with a persistent session (clean start false, a
// session expiry), so consumers of a group compete for messages and the
// server keeps the QoS 1 messages routed to a session while it is
// disconnected or restarting.
//
// Brokers opened in one process on the same servers, client id, group and
// queue share one connection and session and compete for its messages
// locally; separate processes compete through the shared subscription. New
// joins the subscription at once, so a queue exists (keeps messages) from
// the first New on it, even before anything listens; NewEmitter opens a
// broker that only emits and never takes messages off the queue.
//
// Acknowledgement is manual: a message is acked to the server only when the
// application acks it. MQTT has no negative ack: Fail republishes the
// message with its attempt raised and acks the original; Nack delays are not
// honoured; dead letters are published to "<queue>.dlq". See README.md.
//
// Importing the package registers the URL schemes mqtt and mqtts:
// swarm.Open("mqtt://user:pass@host:1883/orders?group=billing&client_id=pod-1").
package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// ErrNoSubscribers is the error of a publish that the server accepted but
// no subscription took (PUBACK reason 0x10), so that nothing keeps the
// message: no broker was ever opened with New on the queue, or every
// session of its group ended. The kernel retries it, then dead-letters it
// to the emitter's dead-letter channel.
var ErrNoSubscribers = errors.New("no subscription takes messages of this queue")

// ErrSessionLost is reported (as a *kernel.Error with Op "connection", on
// the listeners' error channel, see swarm.WithStdErr) when the receiving
// connection comes back to a server that no longer has its session: the
// messages the server held for it, queued or sent and not yet acked, are
// lost. A server without persistence, or one that cannot write its
// persistence file, forgets sessions when it restarts; a session also ends
// when it expires (WithSessionExpiry).
var ErrSessionLost = errors.New("the server no longer had the session: the messages it held for it are lost")

// Broker is a connection to one MQTT queue (topic). It is safe for
// concurrent use.
type Broker struct {
	k *kernel.Kernel
}

// New opens the queue (an MQTT topic) for emitting and listening. It joins
// the queue's shared subscription with a persistent session, waiting up to
// the connect timeout for the server's answer. It fails with
// swarm.ErrConfig when an option or the queue name is invalid, and with an
// error naming the servers when none can be reached.
func New(queue string, opts ...Option) (*Broker, error) {
	return open(queue, true, opts)
}

// NewEmitter opens the queue for emitting only: it does not subscribe, so
// it takes no messages off the queue. Listening on it fails.
func NewEmitter(queue string, opts ...Option) (*Broker, error) {
	return open(queue, false, opts)
}

func open(queue string, listen bool, opts []Option) (*Broker, error) {
	c := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&c); err != nil {
			return nil, fmt.Errorf("%w: %w", swarm.ErrConfig, err)
		}
	}
	if err := checkTopic(queue); err != nil {
		return nil, fmt.Errorf("%w: mqtt: queue %w", swarm.ErrConfig, err)
	}
	if c.deadLetter == "" {
		c.deadLetter = queue + ".dlq"
	}
	if c.deadLetter == queue {
		return nil, fmt.Errorf("%w: mqtt: dead-letter topic %q is the queue itself", swarm.ErrConfig, queue)
	}
	if len(c.servers) == 0 {
		u, _ := parseServer(defaultServer)
		c.servers = append(c.servers, u)
	}
	if c.tls != nil {
		c.servers = withTLS(c.servers)
	}
	cfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	s, err := acquire(c, queue, listen)
	if err != nil {
		return nil, err
	}
	name := "mqtt://" + c.servers[0].Host + "/" + queue
	if !listen {
		return &Broker{k: kernel.New(cfg, name, &sender{s: s, cfg: c})}, nil
	}
	d := &driver{sender: sender{s: s, cfg: c}, dlqTopic: c.deadLetter}
	k := kernel.New(cfg, name, d)
	d.k.Store(k)
	s.watch(d)
	return &Broker{k: k}, nil
}

// withTLS turns plain server URLs into TLS ones, for WithTLS.
func withTLS(us []*url.URL) []*url.URL {
	out := make([]*url.URL, len(us))
	for i, u := range us {
		v := *u
		switch strings.ToLower(v.Scheme) {
		case "mqtt", "tcp":
			v.Scheme = "mqtts"
		case "ws":
			v.Scheme = "wss"
		}
		out[i] = &v
	}
	return out
}

// Close flushes emits, settles acks, hands unsettled deliveries back to the
// queue and releases the connection. The server keeps the session.
func (b *Broker) Close() error { return b.k.Close() }

// Kernel returns the kernel running the broker's channels.
func (b *Broker) Kernel() *kernel.Kernel { return b.k }

func init() {
	swarm.Register("mqtt", openURL)
	swarm.Register("mqtts", openURL)
}

// openURL opens "mqtt[s]://[user[:password]@]host[:port]/queue" with the
// query parameters group, client_id and emit_only=true.
func openURL(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
	bopts, queue, emitOnly, err := urlOptions(u)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", swarm.ErrConfig, err)
	}
	bopts = append(bopts, WithKernel(opts...))
	if emitOnly {
		return NewEmitter(queue, bopts...)
	}
	return New(queue, bopts...)
}

func urlOptions(u *url.URL) (opts []Option, queue string, emitOnly bool, err error) {
	host := u.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if u.Port() == "" {
		if u.Scheme == "mqtts" {
			host += ":8883"
		} else {
			host += ":1883"
		}
	}
	scheme := "mqtt"
	if u.Scheme == "mqtts" {
		scheme = "mqtts"
		opts = append(opts, WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	opts = append(opts, WithServers(scheme+"://"+host))
	if u.User != nil {
		opts = append(opts, WithUsername(u.User.Username()))
		if p, ok := u.User.Password(); ok {
			opts = append(opts, WithPassword(p))
		}
	}
	queue = strings.TrimPrefix(u.Path, "/")
	if queue == "" {
		return nil, "", false, fmt.Errorf("mqtt: URL of %s names no queue: want %s://host/queue", host, u.Scheme)
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "group", "client_id", "emit_only":
		default:
			return nil, "", false, fmt.Errorf("mqtt: URL of %s has unknown parameter %q (known: group, client_id, emit_only)", host, k)
		}
	}
	if g := q.Get("group"); g != "" {
		opts = append(opts, WithGroup(g))
	}
	if id := q.Get("client_id"); id != "" {
		opts = append(opts, WithClientID(id))
	}
	switch q.Get("emit_only") {
	case "", "false", "0":
	case "true", "1":
		emitOnly = true
	default:
		return nil, "", false, fmt.Errorf("mqtt: URL of %s: emit_only is %q, want true or false", host, q.Get("emit_only"))
	}
	return opts, queue, emitOnly, nil
}
