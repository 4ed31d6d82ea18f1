package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/swarm-go/swarm/broker/redis"
	"github.com/swarm-go/swarm/swarmtest"
)

// TestRun runs the example against the shared Redis, on a stream of its
// own that it deletes afterwards.
func TestRun(t *testing.T) {
	swarmtest.RequireTCP(t, "redis", redis.DefaultAddr)
	var r [4]byte
	_, _ = rand.Read(r[:])
	queue := "example-" + hex.EncodeToString(r[:])
	t.Cleanup(func() {
		c := goredis.NewClient(&goredis.Options{Addr: redis.DefaultAddr})
		defer c.Close()
		_ = c.Del(context.Background(), queue, queue+".dlq").Err()
	})
	var out strings.Builder
	if err := run(&out, redis.DefaultAddr, queue); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"received order-1 10.50 (attempt 1)", "received order-3 31.50", "round trip complete"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
