package contender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/swarm-go/swarm/bench/workload"
	"github.com/swarm-go/swarm/broker/mqtt"
	"github.com/swarm-go/swarm/swarmtest"
)

// mqttPublishers is how many QoS 1 publishes the raw side keeps in flight
// (paho's Publish waits for the PUBACK, so concurrency is the way to
// pipeline; the order between them is lost, which swarm keeps).
const mqttPublishers = 32

func init() {
	register(func(int) Broker {
		m := &mosquitto{}
		return Broker{Name: "mqtt", Order: 55, Raw: m.raw, Swarm: m.swarm, Setup: m.setup}
	})
}

// mosquitto is a private Mosquitto the MQTT contenders share, as the MQTT
// restart test runs one: the shared server keeps at most 1000 messages
// queued per session (its default), fewer than a publish-then-consume run
// holds. No Watermill adapter of note exists for MQTT.
type mosquitto struct{ addr string }

func (m *mosquitto) setup() (func(), error) {
	return startEmulator(func(t testing.TB) {
		dir, err := os.MkdirTemp("", "swarmbench-mosquitto-")
		if err != nil {
			t.Fatalf("mosquitto: temp dir: %v", err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		port := swarmtest.FreePort(t)
		conf := filepath.Join(dir, "mosquitto.conf")
		body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"+
			"max_queued_messages 0\nmax_inflight_messages 0\nset_tcp_nodelay true\nlog_dest stderr\nlog_type error\n", port)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatalf("mosquitto: write %s: %v", conf, err)
		}
		m.addr = swarmtest.StartProcess(t, fmt.Sprintf("127.0.0.1:%d", port), nil, "mosquitto", "-c", conf).Addr
	})
}

// raw is paho.golang at QoS 1: a subscribing connection made with the
// contender (so the session keeps what is published before Consume), paho
// acking each message as its handler returns, and a publishing connection
// with mqttPublishers publishes in flight.
func (m *mosquitto) raw(topic string) (workload.Contender, error) {
	r := &mqttRaw{topic: topic, in: make(chan []byte, 1024), stop: make(chan struct{})}
	sub, err := m.connect(topic+"-sub", func(pr paho.PublishReceived) (bool, error) {
		select {
		case r.in <- pr.Packet.Payload:
		case <-r.stop:
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	r.sub = sub
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("mqtt raw: subscribe %s: %w", topic, err)
	}
	if r.pub, err = m.connect(topic+"-pub", nil); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

// connect opens a paho client on the private server.
func (m *mosquitto) connect(id string, onPublish func(paho.PublishReceived) (bool, error)) (*paho.Client, error) {
	conn, err := net.DialTimeout("tcp", m.addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("mqtt raw: dial %s: %w", m.addr, err)
	}
	cfg := paho.ClientConfig{Conn: conn, ClientID: id, PacketTimeout: 30 * time.Second}
	if onPublish != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onPublish}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("mqtt raw: connect %s: %w", m.addr, err)
	}
	return c, nil
}

type mqttRaw struct {
	topic    string
	sub, pub *paho.Client
	in       chan []byte
	stop     chan struct{}
}

func (r *mqttRaw) Publish(ctx context.Context, n int, msg func(int) workload.Payload) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, mqttPublishers)
	for range mqttPublishers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				resp, err := r.pub.Publish(ctx, &paho.Publish{QoS: 1, Topic: r.topic, Payload: workload.Encode(msg(i))})
				if err == nil && resp != nil && resp.ReasonCode >= 0x80 {
					err = fmt.Errorf("reason code 0x%02x", resp.ReasonCode)
				}
				if err != nil {
					errs <- fmt.Errorf("mqtt raw: publish: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (r *mqttRaw) Consume(ctx context.Context, n int, got func(workload.Payload)) error {
	for range n {
		select {
		case b := <-r.in:
			p, err := workload.Decode(b)
			if err != nil {
				return err
			}
			got(p)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (r *mqttRaw) Close() error {
	close(r.stop)
	var errs []error
	for _, c := range []*paho.Client{r.pub, r.sub} {
		if c != nil {
			errs = append(errs, c.Disconnect(&paho.Disconnect{}))
		}
	}
	return errors.Join(errs...)
}

// swarm is swarm's MQTT broker with its defaults on the private server.
func (m *mosquitto) swarm(topic string) (workload.Contender, error) {
	q, err := mqtt.New(topic, mqtt.WithServers("mqtt://"+m.addr))
	if err != nil {
		return nil, err
	}
	return NewSwarm(q), nil
}
