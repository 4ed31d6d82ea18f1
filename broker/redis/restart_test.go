package redis_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/redis"
	"github.com/swarm-go/swarm/swarmtest"
)

// startPrivate runs a redis-server of the test's own, with an append-only
// file fsynced on every write in a temporary directory, so that what it
// accepted survives a restart.
func startPrivate(t *testing.T) *swarmtest.Process {
	port := swarmtest.FreePort(t)
	return swarmtest.StartProcess(t, fmt.Sprintf("127.0.0.1:%d", port), nil,
		"redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", t.TempDir())
}

// TestRestart restarts a private server in the middle of a stream of
// 10,000 messages: none may be lost.
func TestRestart(t *testing.T) {
	p := startPrivate(t)
	swarmtest.RunRestart(t, swarmtest.Config{
		Open: func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return redis.New(queue, redis.WithAddr(p.Addr), redis.WithKernel(opts...))
		},
		Restart: func(t testing.TB) {
			start := time.Now()
			p.Restart()
			t.Logf("server restarted in %v", time.Since(start))
		},
	})
}

// TestOutage keeps the private server down for two seconds in the middle of
// the stream: longer than go-redis rides out on its own, so sends, receives
// and acks fail, the kernel retries, and the driver releases the entries
// whose replies were lost.
func TestOutage(t *testing.T) {
	p := startPrivate(t)
	swarmtest.RunRestart(t, swarmtest.Config{
		Open: func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return redis.New(queue, redis.WithAddr(p.Addr), redis.WithKernel(opts...))
		},
		RestartMessages: 5000,
		Restart: func(t testing.TB) {
			p.Stop()
			time.Sleep(2 * time.Second)
			p.Start()
		},
	})
}
