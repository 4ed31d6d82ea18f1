package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// conn is one autopaho connection and what New needs to wait for it.
type conn struct {
	cm      *autopaho.ConnectionManager
	ready   chan struct{} // closed on the first connection
	mu      sync.Mutex
	up      bool
	lastErr error // last connection error, for New's message
}

// dial starts an autopaho connection, which reconnects with backoff until
// closed. The receiving connection keeps its server session (clean start
// false, session expiry) and acks manually. The publishing one keeps no
// session (session expiry 0), as it holds no subscription: a publish in
// flight when its connection drops is not resent by paho but fails, and the
// kernel sends it again.
func (s *session) dial(clientID string, receive bool) (*conn, error) {
	c := &conn{ready: make(chan struct{})}
	rm := uint16(s.cfg.receiveMax)
	expiry := uint32(s.cfg.expiry / time.Second)
	if !receive {
		expiry = 0
	}
	cc := autopaho.ClientConfig{
		ServerUrls:                    s.cfg.servers,
		TlsCfg:                        s.cfg.tls,
		KeepAlive:                     uint16(s.cfg.keepAlive / time.Second),
		CleanStartOnInitialConnection: !receive,
		SessionExpiryInterval:         expiry,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(100*time.Millisecond, 5*time.Second, 200*time.Millisecond, 2),
		ConnectTimeout:                s.cfg.connect,
		ConnectUsername:               s.cfg.username,
		ConnectPassword:               []byte(s.cfg.password),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, ca *paho.Connack) {
			c.mu.Lock()
			again := c.up
			if !c.up {
				c.up = true
				close(c.ready)
			}
			c.mu.Unlock()
			if receive {
				if again && !ca.SessionPresent {
					s.lost()
				}
				s.resubscribe(cm)
			}
		},
		OnConnectionDown: func() bool {
			return true // reconnect
		},
		OnConnectError: func(err error) {
			c.mu.Lock()
			c.lastErr = err
			c.mu.Unlock()
		},
		ClientConfig: paho.ClientConfig{
			ClientID:      clientID,
			PacketTimeout: s.cfg.timeout,
		},
	}
	if receive {
		cc.ConnectPacketBuilder = func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			cp.Properties.ReceiveMaximum = &rm
			return cp, nil
		}
		// Acks are swarm's (see subState): paho's automatic ones are
		// no-ops and its manual acknowledgement stays off.
		cc.Session = s.subs
		cc.OnPublishReceived = []func(paho.PublishReceived) (bool, error){s.onPublish}
	}
	if !receive {
		cc.Session = s.pubs // publishes are written through it (see send)
	}
	cm, err := autopaho.NewConnection(context.Background(), cc)
	if err != nil {
		return nil, fmt.Errorf("mqtt: connect to %s: %w", s.key.servers, err)
	}
	c.cm = cm
	return c, nil
}

// await waits for the first connection of c.
func (s *session) await(ctx context.Context, c *conn) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		last := c.lastErr
		c.mu.Unlock()
		if last != nil {
			return fmt.Errorf("mqtt: no connection to %s within %v: %w", s.key.servers, s.cfg.connect, scrub(last, s.cfg.password))
		}
		return fmt.Errorf("mqtt: no connection to %s within %v", s.key.servers, s.cfg.connect)
	}
}

// subscribe opens the receiving connection on first use and makes it a
// member of the queue's shared subscription, waiting for the SUBACK. The
// subscription is renewed on every reconnect (a server without persistence
// forgets it).
func (s *session) subscribe(ctx context.Context) error {
	s.subMu.Lock()
	if s.sub == nil {
		c, err := s.dial(s.key.clientID, true)
		if err != nil {
			s.subMu.Unlock()
			return err
		}
		s.sub = c
	}
	c := s.sub
	s.subMu.Unlock()
	if err := s.await(ctx, c); err != nil {
		return err
	}
	for {
		err := s.sendSubscribe(ctx, c.cm)
		if err == nil || !errors.Is(err, autopaho.ConnectionDownError) {
			return err
		}
		if err := c.cm.AwaitConnection(ctx); err != nil {
			return fmt.Errorf("mqtt: subscribe %s: %w", s.filter, err)
		}
	}
}

// resubscribe runs on every connection of the receiving side. The callback
// must not block, so the SUBSCRIBE goes out in the background.
func (s *session) resubscribe(cm *autopaho.ConnectionManager) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		_ = s.sendSubscribe(ctx, cm)
	}()
}

func (s *session) sendSubscribe(ctx context.Context, cm *autopaho.ConnectionManager) error {
	ack, err := cm.Subscribe(ctx, &paho.Subscribe{
		Subscriptions: []paho.SubscribeOptions{{Topic: s.filter, QoS: 1}},
	})
	if err != nil {
		return fmt.Errorf("mqtt: subscribe %s on %s: %w", s.filter, s.key.servers, err)
	}
	if len(ack.Reasons) > 0 && ack.Reasons[0] >= 0x80 {
		return fmt.Errorf("mqtt: subscribe %s on %s refused with reason code 0x%02x", s.filter, s.key.servers, ack.Reasons[0])
	}
	return nil
}
