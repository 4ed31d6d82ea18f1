// Package swarmtest is the conformance suite of swarm brokers: one set of
// tests that every broker, ours or an application's own ("bring your own
// queue"), runs against its real server or emulator.
//
//	func TestConformance(t *testing.T) {
//		swarmtest.Run(t, swarmtest.Config{
//			Open: func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
//				return mybroker.New(addr, queue, mybroker.WithKernel(opts...))
//			},
//		})
//	}
//
// Each test opens its own queue (a fresh name), so tests are isolated. What a
// broker cannot do, by the Capabilities its driver declares or the hooks its
// Config leaves nil, is skipped with the reason in the test output.
package swarmtest

import (
	"testing"
	"time"

	"github.com/swarm-go/swarm"
)

// Config describes the broker under test.
type Config struct {
	// Open opens a broker (emit and listen) on queue with the kernel options
	// opts, creating the queue if needed. Brokers opened with the same queue
	// name share it, as competing consumers. Required.
	Open func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error)

	// OpenDeadLetters opens a broker that receives the dead letters of
	// queue, so the suite can check they arrive there. Nil when the broker's
	// dead letters cannot be read back; those checks are skipped.
	OpenDeadLetters func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error)

	// Restart stops and starts the broker's server, keeping its data, while
	// the suite is emitting and listening. Nil when the test cannot restart
	// the server; the restart check is skipped.
	Restart func(t testing.TB)

	// RestartMessages is how many messages the restart check sends
	// (default 10,000).
	RestartMessages int

	// Timeout bounds each wait for a message (default 10s). Raise it for
	// slow emulators.
	Timeout time.Duration
}

func (c *Config) defaults() {
	if c.RestartMessages == 0 {
		c.RestartMessages = 10_000
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}
