package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/eclipse/paho.golang/paho"
	"github.com/swarm-go/swarm/kernel"
)

// A session is a queue's pair of MQTT connections in this process: one
// that publishes, and one with a persistent server session that is a member
// of the queue's shared subscription and receives. Brokers opened in one
// process on the same servers, client id prefix, group and queue share it
// (with the first one's connection settings) and compete for its messages
// locally; other processes compete
// through the shared subscription. Sharing is what lets a queue outlive the
// brokers of a process: a broker closed and reopened (or an emitter closed
// before the listener opens) finds the messages the server queued for the
// session.
//
// Publishing and receiving use separate connections because the server
// interleaves deliveries with PUBACKs on one connection, and a server
// without TCP_NODELAY (mosquitto's default) then holds each PUBACK behind
// the client's delayed TCP ack: 40ms per publish.
type session struct {
	key    sessionKey
	refs   int // guarded by sessions.mu
	topic  string
	filter string
	cfg    config

	// started is closed once start has returned, startErr being what it
	// returned: pub is set before, so a broker that found the session in
	// the registry reads it only after that.
	started  chan struct{}
	startErr error
	pub      *conn
	pubs     *pubState      // the publishing connection's session state
	subs     *subState      // the receiving connection's session state and acks
	buf      chan *delivery // bounded by Receive Maximum: the server never sends more unacked

	subMu sync.Mutex
	sub   *conn // the subscribed connection, made by the first listener

	watchMu  sync.Mutex
	watchers map[*driver]struct{} // listeners told when the server lost the session

	stop chan struct{} // closed when the session shuts down
	bg   sync.WaitGroup
}

// sessionKey identifies a session by what the server identifies it by:
// the servers and the client id. Brokers that share a session use the
// connection settings (credentials, TLS, timeouts) of the first one opened.
type sessionKey struct {
	servers, clientID string
}

// sessions are the process's open sessions; closing holds those shutting
// down, so a new one with the same client id waits rather than taking the
// server session over from a connection still handing messages back.
var sessions = struct {
	mu      sync.Mutex
	m       map[sessionKey]*session
	closing map[sessionKey]chan struct{}
}{m: map[sessionKey]*session{}, closing: map[sessionKey]chan struct{}{}}

// processID makes the default client ids of this process unique.
var processID = func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "swarm-" + hex.EncodeToString(b[:])
}()

// acquire returns the process's session for topic, connecting it on first
// use, subscribing it when subscribe is set. It waits for the connection
// (and subscription) up to the connect timeout.
func acquire(cfg config, topic string, subscribe bool) (*session, error) {
	key := sessionKey{servers: serverList(cfg.servers), clientID: clientID(cfg, topic)}
	sessions.mu.Lock()
	for {
		done, ok := sessions.closing[key]
		if !ok {
			break
		}
		sessions.mu.Unlock()
		<-done
		sessions.mu.Lock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.connect)
	defer cancel()
	s := sessions.m[key]
	if s != nil {
		s.refs++
		sessions.mu.Unlock()
		// Another broker may still be starting it.
		select {
		case <-s.started:
		case <-ctx.Done():
			s.release()
			return nil, fmt.Errorf("mqtt: connect to %s: %w", s.where(), ctx.Err())
		}
		if s.startErr != nil {
			s.release()
			return nil, s.startErr
		}
	} else {
		s = newSession(key, cfg, topic)
		s.refs = 1
		sessions.m[key] = s
		sessions.mu.Unlock()
		s.startErr = s.start()
		close(s.started)
		if s.startErr != nil {
			s.release()
			return nil, s.startErr
		}
	}
	if err := s.await(ctx, s.pub); err != nil {
		s.release()
		return nil, err
	}
	if subscribe {
		if err := s.subscribe(ctx); err != nil {
			s.release()
			return nil, err
		}
	}
	return s, nil
}

func newSession(key sessionKey, cfg config, topic string) *session {
	return &session{
		key:     key,
		topic:   topic,
		filter:  "$share/" + cfg.group + "/" + topic,
		cfg:     cfg,
		pubs:    newPubState(),
		subs:    newSubState(),
		buf:     make(chan *delivery, cfg.receiveMax),
		stop:    make(chan struct{}),
		started: make(chan struct{}),
	}
}

func serverList(us []*url.URL) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = u.String()
	}
	return strings.Join(s, ",")
}

// clientID is the MQTT client id of a session's receiving connection: the
// configured prefix (default: random per process), the group and the
// queue's topic, joined by '/' (which a group cannot hold). The publishing
// connection adds "#pub" (a topic cannot hold "#", so no queue has that id).
func clientID(cfg config, topic string) string {
	prefix := cfg.clientID
	if prefix == "" {
		prefix = processID
	}
	return prefix + "/" + cfg.group + "/" + topic
}

// start opens the publishing connection.
func (s *session) start() error {
	c, err := s.dial(s.key.clientID+"#pub", false)
	if err != nil {
		return err
	}
	s.pub = c
	return nil
}

// where names the servers and topic in errors (never a credential: server
// URLs with credentials are refused by the options).
func (s *session) where() string {
	return s.key.servers + " (topic " + s.topic + ")"
}

// onPublish runs on paho's receive goroutine. It blocks while the buffer is
// full: flow control. That cannot last long, since the server sends no more
// than Receive Maximum unacked messages and the buffer holds as many.
func (s *session) onPublish(pr paho.PublishReceived) (bool, error) {
	d := &delivery{s: s, cli: pr.Client, pub: pr.Packet}
	s.subs.track(d)
	select {
	case s.buf <- d:
	case <-s.stop:
		// Not acked: the server sends it again when the session resumes.
	}
	return true, nil
}

// watch makes d one of the listeners told when the server lost the
// session; unwatch ends it.
func (s *session) watch(d *driver) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watchers == nil {
		s.watchers = map[*driver]struct{}{}
	}
	s.watchers[d] = struct{}{}
}

func (s *session) unwatch(d *driver) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	delete(s.watchers, d)
}

// lost reports, on the error channel of every listener of the session,
// that the receiving connection came back to a server without its session
// (CONNACK with session present 0): what the server held for it, queued or
// sent and not yet acked, is gone, and nothing else tells.
func (s *session) lost() {
	err := fmt.Errorf("mqtt: %s, session %q, on reconnect: %w", s.where(), s.key.clientID, ErrSessionLost)
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for d := range s.watchers {
		if k := d.k.Load(); k != nil {
			k.Report(&kernel.Error{Op: "connection", Err: err})
		}
	}
}

// release drops one reference, shutting the session down with the last.
func (s *session) release() {
	sessions.mu.Lock()
	s.refs--
	last := s.refs == 0
	var done chan struct{}
	if last && sessions.m[s.key] == s {
		delete(sessions.m, s.key)
		done = make(chan struct{})
		sessions.closing[s.key] = done
	}
	sessions.mu.Unlock()
	if !last {
		return
	}
	s.shutdown()
	if done != nil {
		sessions.mu.Lock()
		delete(sessions.closing, s.key)
		sessions.mu.Unlock()
		close(done)
	}
}

// shutdown hands the buffered, never delivered messages back to the queue
// (republish, then ack), and disconnects keeping
// the server session: what it holds waits for the next connection with
// this client id. A session with a configured client id stays in the
// shared subscription (its instance comes back); one with the random
// default id leaves it.
func (s *session) shutdown() {
	if s.pub == nil {
		return // never started
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer cancel()
	var waits []func() error
	for n := len(s.buf); n > 0; n-- {
		if d := <-s.buf; !d.stale() {
			waits = append(waits, d.requeue(ctx, d.attempt()))
		}
	}
	for _, wait := range waits {
		_ = wait() // on failure unacked: the server delivers it again
	}
	s.subMu.Lock()
	sub := s.sub
	s.subMu.Unlock()
	if sub != nil && s.cfg.clientID == "" {
		// A random client id is never used again once the process exits:
		// left subscribed, its session would keep taking its share of the
		// queue's messages until it expires. Leave the group; what the
		// server already queued for the session stays for a reopen in this
		// process.
		_, _ = sub.cm.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{s.filter}})
	}
	close(s.stop)
	if sub != nil {
		_ = sub.cm.Disconnect(ctx) // acks are written as they are made
	}
	_ = s.pub.cm.Disconnect(ctx)
	s.bg.Wait()
}

// scrub removes the password from an error text, in case a server or a
// library echoes it.
func scrub(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "***"))
}
