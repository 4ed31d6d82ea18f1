package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/swarm-go/swarm"
)

// Option configures an MQTT broker. Options are checked by New, which fails
// with swarm.ErrConfig naming the setting when one is invalid.
type Option func(*config) error

// config is the broker's settings. The password is kept here and handed to
// the client only: it never appears in errors, logs or the kernel's queue
// name.
type config struct {
	kernel       []swarm.Option
	servers      []*url.URL
	clientID     string
	username     string
	password     string
	tls          *tls.Config
	group        string
	deadLetter   string
	keepAlive    time.Duration
	connect      time.Duration
	timeout      time.Duration
	expiry       time.Duration
	receiveMax   int
	maxPayload   int
	subscribeNew bool
}

const (
	defaultServer     = "mqtt://127.0.0.1:1883"
	defaultGroup      = "swarm"
	defaultKeepAlive  = 30 * time.Second
	defaultConnect    = 10 * time.Second
	defaultTimeout    = 10 * time.Second
	defaultExpiry     = time.Hour
	defaultReceiveMax = 65535
	defaultMaxPayload = 1 << 20
	// maxPacket is MQTT's largest packet (the variable byte integer limit);
	// a payload must leave room for the topic and properties beside it.
	maxPacket = 268_435_455
)

func defaultConfig() config {
	return config{
		group:        defaultGroup,
		keepAlive:    defaultKeepAlive,
		connect:      defaultConnect,
		timeout:      defaultTimeout,
		expiry:       defaultExpiry,
		receiveMax:   defaultReceiveMax,
		maxPayload:   defaultMaxPayload,
		subscribeNew: true,
	}
}

// WithKernel sets the kernel options (policy, capacities, retries, ...).
func WithKernel(opts ...swarm.Option) Option {
	return func(c *config) error { c.kernel = append(c.kernel, opts...); return nil }
}

// WithServers sets the servers to connect to, tried in turn on every
// (re)connect: URLs such as "mqtt://host:1883", "mqtts://host:8883" (TLS,
// also "tls://", "ssl://") or "ws://host/mqtt". A bare "host:port" means
// mqtt://. Credentials in a URL are refused: use WithUsername and
// WithPassword. Default mqtt://127.0.0.1:1883.
func WithServers(servers ...string) Option {
	return func(c *config) error {
		if len(servers) == 0 {
			return errors.New("mqtt: WithServers needs at least one server")
		}
		c.servers = c.servers[:0]
		for _, s := range servers {
			u, err := parseServer(s)
			if err != nil {
				return err
			}
			c.servers = append(c.servers, u)
		}
		return nil
	}
}

func parseServer(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "mqtt://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse quotes its input, which may hold a password.
		return nil, errors.New("mqtt: a server address is not a valid URL")
	}
	if u.User != nil {
		return nil, fmt.Errorf("mqtt: server %s carries credentials in its URL; use WithUsername and WithPassword", u.Host)
	}
	switch strings.ToLower(u.Scheme) {
	case "mqtt", "tcp", "mqtts", "tls", "ssl", "ws", "wss":
	default:
		return nil, fmt.Errorf("mqtt: server %s has scheme %q, want mqtt, mqtts, tcp, tls, ssl, ws or wss", u.Host, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("mqtt: server URL %q has no host", u.Scheme+"://")
	}
	return u, nil
}

// WithClientID sets the prefix of the MQTT client IDs: the session of queue
// q in group g is "<id>/<g>/<q>" (its publishing connection adds "#pub").
// Give each process instance a stable, unique id (a pod or host name) so a
// restarted instance resumes its persistent session and the QoS 1 messages
// the server queued for it. Default: "swarm-" and a random suffix per
// process, whose sessions are not resumed after a restart (the server keeps
// what was routed to them until the session expires).
func WithClientID(id string) Option {
	return func(c *config) error {
		if id == "" {
			return errors.New("mqtt: client id is empty")
		}
		c.clientID = id
		return nil
	}
}

// WithUsername sets the user name sent in CONNECT.
func WithUsername(user string) Option {
	return func(c *config) error { c.username = user; return nil }
}

// WithPassword sets the password sent in CONNECT. It is never logged and
// never part of an error.
func WithPassword(password string) Option {
	return func(c *config) error { c.password = password; return nil }
}

// WithTLS sets the TLS configuration for mqtts://, tls://, ssl:// and wss://
// servers. Setting it turns mqtt:// and tcp:// servers into TLS ones too.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("mqtt: TLS config is nil")
		}
		c.tls = cfg
		return nil
	}
}

// WithGroup sets the shared subscription group, "$share/<group>/<queue>":
// consumers of one group compete for the queue's messages, each group gets
// every message. Default "swarm".
func WithGroup(name string) Option {
	return func(c *config) error {
		if name == "" || strings.ContainsAny(name, "/+#") {
			return fmt.Errorf("mqtt: group %q must be non-empty without '/', '+' or '#'", name)
		}
		c.group = name
		return nil
	}
}

// WithDeadLetterTopic names the topic dead letters are published to
// (default "<queue>.dlq"). Open a broker on it to read them.
func WithDeadLetterTopic(topic string) Option {
	return func(c *config) error {
		if err := checkTopic(topic); err != nil {
			return fmt.Errorf("mqtt: dead-letter %w", err)
		}
		c.deadLetter = topic
		return nil
	}
}

// WithKeepAlive sets the MQTT keepalive (default 30s, whole seconds, at
// most 65535s).
func WithKeepAlive(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second || d > 65535*time.Second {
			return fmt.Errorf("mqtt: keepalive %v must be between 1s and 65535s", d)
		}
		c.keepAlive = d
		return nil
	}
}

// WithConnectTimeout bounds each connection attempt and how long New waits
// for the first connection (default 10s).
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("mqtt: connect timeout %v must be positive", d)
		}
		c.connect = d
		return nil
	}
}

// WithTimeout bounds each publish, subscribe and acknowledgement round trip
// (default 10s).
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("mqtt: timeout %v must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithSessionExpiry sets how long the server keeps the session, its
// subscription and the QoS 1 messages queued for it after the client
// disconnects (default 1h, whole seconds).
func WithSessionExpiry(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second || d > (1<<32-1)*time.Second {
			return fmt.Errorf("mqtt: session expiry %v must be between 1s and 2^32-1s", d)
		}
		c.expiry = d
		return nil
	}
}

// WithReceiveMaximum sets MQTT's Receive Maximum: how many QoS 1 messages
// the server sends this session before it waits for acks (default 65535,
// MQTT's own default and the most). It also sizes the receive buffer, so it
// bounds the memory a session holds: lower it for large messages. The
// default lets a listener take a backlog off the server as fast as the
// server sends it; with a smaller window the server refills it only as acks
// come back (Mosquitto 2.0 refills a deep backlog at 10-20k messages/s).
func WithReceiveMaximum(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 65535 {
			return fmt.Errorf("mqtt: receive maximum %d must be between 1 and 65535", n)
		}
		c.receiveMax = n
		return nil
	}
}

// WithMaxPayload sets the largest payload emitted (default 1 MiB); larger
// messages go to the emitter's dead-letter channel with swarm.ErrTooLarge.
// Keep it within the server's limit (mosquitto's message_size_limit).
func WithMaxPayload(n int) Option {
	return func(c *config) error {
		if n < 1 || n > maxPacket-64*1024 {
			return fmt.Errorf("mqtt: max payload %d must be between 1 and %d", n, maxPacket-64*1024)
		}
		c.maxPayload = n
		return nil
	}
}

// checkTopic refuses topics that cannot be published to: empty, wildcards,
// system topics and the NUL character.
func checkTopic(t string) error {
	switch {
	case t == "":
		return errors.New("topic is empty")
	case strings.ContainsAny(t, "+#\x00"):
		return fmt.Errorf("topic %q holds a wildcard or NUL", t)
	case strings.HasPrefix(t, "$"):
		return fmt.Errorf("topic %q starts with '$', reserved for the server", t)
	case len(t) > 65535:
		return fmt.Errorf("topic of %d bytes is longer than 65535", len(t))
	}
	return nil
}
