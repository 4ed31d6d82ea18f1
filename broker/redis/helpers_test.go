package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// keys collects the streams a test created on a server, to delete them at
// its end so the shared server does not fill up run after run.
type keys struct {
	addr string
	mu   sync.Mutex
	set  map[string]bool
}

func newKeys(t testing.TB, addr string) *keys {
	k := &keys{addr: addr, set: map[string]bool{}}
	t.Cleanup(func() { k.drop(t) })
	return k
}

// add records a queue and its dead-letter stream.
func (k *keys) add(queue string) {
	k.mu.Lock()
	k.set[queue], k.set[queue+".dlq"] = true, true
	k.mu.Unlock()
}

func (k *keys) drop(t testing.TB) {
	c := goredis.NewClient(&goredis.Options{Addr: k.addr})
	defer c.Close()
	k.mu.Lock()
	defer k.mu.Unlock()
	var list []string
	for key := range k.set {
		list = append(list, key)
	}
	if len(list) > 0 {
		if err := c.Del(context.Background(), list...).Err(); err != nil {
			t.Logf("delete the test's %d streams: %v", len(list), err)
		}
	}
}

// queueName returns a fresh queue name for t, deleted at its end.
func queueName(t testing.TB, k *keys) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	q := "rt-" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-") + "-" + hex.EncodeToString(r[:])
	k.add(q)
	return q
}

// rawClient is a plain go-redis client for a test to look at or act on the
// server as another process would.
func rawClient(t testing.TB, addr string) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
