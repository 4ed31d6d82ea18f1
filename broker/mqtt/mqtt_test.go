package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/mqtt"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/swarmtest"
)

// sharedAddr is the Mosquitto every developer machine and CI run has.
const sharedAddr = "127.0.0.1:1883"

// testOpts keep the sessions the tests leave on the shared server short-lived.
func testOpts(addr string, opts ...swarm.Option) []mqtt.Option {
	return []mqtt.Option{
		mqtt.WithServers("mqtt://" + addr),
		mqtt.WithSessionExpiry(5 * time.Minute),
		mqtt.WithKernel(opts...),
	}
}

func config(addr string) swarmtest.Config {
	return swarmtest.Config{
		Open: func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return mqtt.New(queue, testOpts(addr, opts...)...)
		},
		OpenDeadLetters: func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return mqtt.New(queue+".dlq", testOpts(addr, opts...)...)
		},
	}
}

// TestConformance runs the swarm conformance suite against the shared
// Mosquitto (its restart check runs in TestRestart, on a private server).
func TestConformance(t *testing.T) {
	swarmtest.RequireTCP(t, "mosquitto", sharedAddr)
	swarmtest.Run(t, config(sharedAddr))
}

// TestOpenURL opens the shared server through swarm.Open, as a program
// configured by URL does, and checks an emit-only broker cannot listen.
func TestOpenURL(t *testing.T) {
	swarmtest.RequireTCP(t, "mosquitto", sharedAddr)
	q, err := swarm.Open("mqtt://" + sharedAddr + "/open-url-test?group=g1&emit_only=true")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if got := q.Kernel().Queue(); got != "mqtt://"+sharedAddr+"/open-url-test" {
		t.Errorf("queue name %q", got)
	}
	if _, err := q.Kernel().Listen("x", "x"); err == nil {
		t.Error("an emit-only broker accepted a listener")
	}
}

// TestNoSubscribersReported: a message no subscription takes (nothing was
// opened with New on the queue) is reported, not silently lost.
func TestNoSubscribersReported(t *testing.T) {
	swarmtest.RequireTCP(t, "mosquitto", sharedAddr)
	q, err := mqtt.NewEmitter(fmt.Sprintf("nobody-listens-%d", time.Now().UnixNano()),
		testOpts(sharedAddr, swarm.WithRetry(swarm.ConstantBackoff(time.Millisecond, 2)))...)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	err = emit.NewTyped[int](q).Enq(context.Background(), 1)
	if !errors.Is(err, mqtt.ErrNoSubscribers) {
		t.Fatalf("Enq to a queue nobody subscribed = %v, want ErrNoSubscribers", err)
	}
}
