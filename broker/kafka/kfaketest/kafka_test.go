package kfaketest

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/kafka"
	"github.com/swarm-go/swarm/swarmtest"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// seed is the address of the cluster the conformance suite shares.
var seed string

func TestMain(m *testing.M) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake cluster:", err)
		os.Exit(1)
	}
	seed = c.ListenAddrs()[0]
	code := m.Run()
	c.Close()
	os.Exit(code)
}

// options tune the broker for a local cluster: members notice rebalances
// within 100ms and a receive waits at most 200ms.
func options(addr string) []kafka.Option {
	return []kafka.Option{
		kafka.WithBrokers(addr),
		kafka.WithGroupTimeouts(10*time.Second, 100*time.Millisecond, 10*time.Second),
		kafka.WithPollWait(200 * time.Millisecond),
		kafka.WithLinger(time.Millisecond),
		kafka.WithClientOpts(debugOpts()...),
	}
}

// debugOpts log the clients to stderr when SWARM_KAFKA_DEBUG is set (1:
// info, 2: debug), for looking into a slow or failing check.
func debugOpts() []kgo.Opt {
	level := map[string]kgo.LogLevel{"1": kgo.LogLevelInfo, "2": kgo.LogLevelDebug}[os.Getenv("SWARM_KAFKA_DEBUG")]
	if level == kgo.LogLevelNone {
		return nil
	}
	stamp := func() string { return time.Now().Format("15:04:05.000 ") }
	return []kgo.Opt{kgo.WithLogger(kgo.BasicLogger(os.Stderr, level, stamp))}
}

func config(addr string) swarmtest.Config {
	return swarmtest.Config{
		Open: func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return kafka.New(queue, append(options(addr), kafka.WithKernel(opts...))...)
		},
		OpenDeadLetters: func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return kafka.New(queue+".dlq", append(options(addr), kafka.WithKernel(opts...))...)
		},
	}
}

func TestConformance(t *testing.T) {
	swarmtest.RequireTCP(t, "kfake cluster", seed)
	swarmtest.Run(t, config(seed))
}

// downtime is how long the private cluster stays down during the restart.
const downtime = time.Second

// TestRestart runs the restart check on a private kfake cluster that keeps
// its data in a directory (kfake.DataDir) and is closed and started again on
// the same port in the middle of the stream.
func TestRestart(t *testing.T) {
	port := swarmtest.FreePort(t)
	dir := t.TempDir()
	start := func(t testing.TB) *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.Ports(port), kfake.DataDir(dir))
		if err != nil {
			t.Fatalf("start kfake on port %d: %v", port, err)
		}
		return c
	}
	var mu sync.Mutex
	c := start(t)
	t.Cleanup(func() { mu.Lock(); c.Close(); mu.Unlock() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	swarmtest.RequireTCP(t, "private kfake cluster", addr)

	cfg := config(addr)
	cfg.Restart = func(t testing.TB) {
		mu.Lock()
		defer mu.Unlock()
		began := time.Now()
		c.Close()
		// Stay down a while, so clients see refused connections and
		// retry with backoff rather than finding the server back at once.
		time.Sleep(downtime)
		c = start(t)
		t.Logf("kfake restarted on %s in %v", addr, time.Since(began).Round(time.Millisecond))
	}
	swarmtest.RunRestart(t, cfg)
}
