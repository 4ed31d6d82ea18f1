package redis_test

import (
	"testing"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/redis"
	"github.com/swarm-go/swarm/swarmtest"
)

// sharedAddr is the Redis every developer machine and CI runs (DESIGN.md §6).
const sharedAddr = "127.0.0.1:6379"

func TestConformance(t *testing.T) {
	swarmtest.RequireTCP(t, "redis", sharedAddr)
	k := newKeys(t, sharedAddr)
	open := func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
		k.add(queue)
		return redis.New(queue, redis.WithAddr(sharedAddr), redis.WithKernel(opts...),
			redis.WithMaxPayload(64<<10))
	}
	swarmtest.Run(t, swarmtest.Config{
		Open: open,
		OpenDeadLetters: func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return open(t, queue+".dlq", opts...)
		},
	})
}
