package nats_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/nats"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

// lease is the AckWait of the restart tests. Deliveries the server sent just
// before it went down never reach the client; they come back once their
// AckWait runs out, so a short one keeps the test short. The kernel extends
// it for slow handlers.
var lease = swarm.WithTimeToFlight(5 * time.Second)

// TestRestartProcess restarts a private nats-server process (never the
// shared one) in the middle of 10,000 messages.
func TestRestartProcess(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", swarmtest.FreePort(t))
	_, port, _ := splitPort(addr)
	p := swarmtest.StartProcess(t, addr, nil,
		"/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", port, "-js", "-sd", t.TempDir())
	swarmtest.RunRestart(t, swarmtest.Config{
		Open: func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return nats.New(queue, nats.WithURL("nats://"+addr), nats.WithKernel(append(opts, lease)...))
		},
		Restart: func(testing.TB) { p.Restart() },
	})
}

// TestRestartEmbedded shuts the embedded server down and starts it again on
// the same port and store directory in the middle of 10,000 messages.
func TestRestartEmbedded(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", swarmtest.FreePort(t))
	dir := t.TempDir()
	var mu sync.Mutex
	srv, err := nats.RunServer(dir, nats.ListenOn(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		_ = srv.Close()
	})
	swarmtest.RunRestart(t, swarmtest.Config{
		Open: func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return nats.New(queue, nats.WithURL("nats://"+addr), nats.WithKernel(append(opts, lease)...))
		},
		Restart: func(t testing.TB) {
			mu.Lock()
			defer mu.Unlock()
			_ = srv.Close()
			s, err := nats.RunServer(dir, nats.ListenOn(addr))
			if err != nil {
				t.Errorf("restart embedded server: %v", err)
				return
			}
			srv = s
		},
	})
}

func splitPort(addr string) (string, string, error) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("no port in %s", addr)
}

// TestCloseWithServerDown: Close returns within its bounds when the server
// went away with a delivery unsettled.
func TestCloseWithServerDown(t *testing.T) {
	srv, err := nats.RunServer(t.TempDir(), nats.ListenOn("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := nats.New("down", nats.WithURL(srv.ClientURL()), nats.WithRequestTimeout(time.Second),
		nats.WithKernel(swarm.WithStdErr(make(chan error, 64))))
	if err != nil {
		t.Fatal(err)
	}
	enq, _ := emit.Typed[note](q)
	deq, _ := listen.Typed[note](q)
	enq <- note{N: 1}
	select {
	case <-deq: // held, never acked: Close must try to release it
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
	_ = srv.Close()
	start := time.Now()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v with the server down", d)
	}
}
