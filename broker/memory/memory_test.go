package memory_test

import (
	"testing"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/memory"
	"github.com/swarm-go/swarm/swarmtest"
)

func open(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
	return memory.New(queue, memory.WithKernel(opts...), memory.WithMaxPayload(64<<10))
}

func TestConformance(t *testing.T) {
	swarmtest.Run(t, swarmtest.Config{
		Open: open,
		OpenDeadLetters: func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return open(t, queue+".dlq", opts...)
		},
	})
}

// The suite again with values handed over unencoded: everything it checks
// of the broker holds without the codec in the way.
func TestConformanceWithoutEncoding(t *testing.T) {
	open := func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
		return memory.New(queue, memory.WithKernel(opts...), memory.WithMaxPayload(64<<10), memory.WithoutEncoding())
	}
	swarmtest.Run(t, swarmtest.Config{
		Open: open,
		OpenDeadLetters: func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return open(t, queue+".dlq", opts...)
		},
	})
}
