package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/swarm-go/swarm/broker/redis"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

// trimEntries is how many entries the trim tests write: enough for the
// stream to span many nodes (100 entries at most each), so that whole
// nodes can go.
const trimEntries = 3000

// fill writes n entries to stream and returns their ids in order.
func fill(t *testing.T, c *goredis.Client, stream string, n int) []string {
	t.Helper()
	ctx := context.Background()
	cmds := make([]*goredis.StringCmd, n)
	if _, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.XAdd(ctx, &goredis.XAddArgs{Stream: stream,
				Values: []any{"category", "Note", "payload", fmt.Sprintf(`{"seq":%d}`, i)}})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i, c := range cmds {
		ids[i] = c.Val()
	}
	return ids
}

// consume receives n messages on b and acks each.
func consume(t *testing.T, b *redis.Broker, n int) {
	t.Helper()
	deq, ack := listen.Typed[swarmtest.Note](b)
	for range n {
		ack <- one(t, deq)
	}
}

// readAndAck reads n entries of stream as consumer of group, acking all of
// them but the last when keepLast, as another process would.
func readAndAck(t *testing.T, c *goredis.Client, stream, group, consumer string, n int, keepLast bool) {
	t.Helper()
	ctx := context.Background()
	res, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{stream, ">"}, Count: int64(n), Block: time.Second,
	}).Result()
	if err != nil || len(res) != 1 || len(res[0].Messages) != n {
		t.Fatalf("%s read %d entries, %v; want %d", consumer, len(res), err, n)
	}
	var ids []string
	for _, m := range res[0].Messages {
		ids = append(ids, m.ID)
	}
	if keepLast {
		ids = ids[:n-1]
	}
	if err := c.XAck(ctx, stream, group, ids...).Err(); err != nil {
		t.Fatal(err)
	}
}

// waitLen waits until stream holds at most n entries and returns its length.
func waitLen(t *testing.T, c *goredis.Client, stream string, n int64) int64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := c.XLen(context.Background(), stream).Result()
		if err != nil {
			t.Fatal(err)
		}
		if l <= n || time.Now().After(deadline) {
			return l
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exists reports whether the entry id is still in stream.
func exists(t *testing.T, c *goredis.Client, stream, id string) bool {
	t.Helper()
	m, err := c.XRange(context.Background(), stream, id, id).Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(m) == 1
}

// filled opens a broker on a fresh stream of the shared server holding
// trimEntries entries, and returns the stream, a plain client, the broker
// and the entries' ids.
func filled(t *testing.T) (string, *goredis.Client, *redis.Broker, []string) {
	t.Helper()
	swarmtest.RequireTCP(t, "redis", sharedAddr)
	q := queueName(t, newKeys(t, sharedAddr))
	c := rawClient(t, sharedAddr)
	b := open(t, q)
	return q, c, b, fill(t, c, q, trimEntries)
}

// TestTrimAcked: acked entries leave the stream, every one, once the
// consumer is done.
func TestTrimAcked(t *testing.T) {
	q, c, b, _ := filled(t)
	consume(t, b, trimEntries)
	if n := waitLen(t, c, q, 0); n != 0 {
		t.Errorf("stream holds %d of %d acked entries, want none", n, trimEntries)
	}
}

// TestTrimKeepsPending: an entry another consumer of the group holds
// unacked stays, and so does everything after it, while what comes before
// it is trimmed.
func TestTrimKeepsPending(t *testing.T) {
	q, c, b, ids := filled(t)
	half := trimEntries / 2
	// The other consumer acks the first half but its last entry, and keeps
	// that one pending past the test (the lease is 30s).
	readAndAck(t, c, q, redis.DefaultGroup, "holder", half, true)
	consume(t, b, trimEntries-half)
	n := waitLen(t, c, q, int64(trimEntries-half+100))
	if !exists(t, c, q, ids[half-1]) {
		t.Fatalf("pending entry %s was trimmed (stream holds %d entries)", ids[half-1], n)
	}
	if n > int64(trimEntries-half+100) {
		t.Errorf("stream holds %d entries, want the %d from the pending one on, and at most a node more",
			n, trimEntries-half+1)
	}
}

// TestTrimKeepsOtherGroups: entries another group of the stream has not
// read yet stay, while what every group acked is trimmed.
func TestTrimKeepsOtherGroups(t *testing.T) {
	q, c, b, ids := filled(t)
	half := trimEntries / 2
	if err := c.XGroupCreate(context.Background(), q, "lagging", "0").Err(); err != nil {
		t.Fatal(err)
	}
	readAndAck(t, c, q, "lagging", "reader", half, false)
	consume(t, b, trimEntries)
	n := waitLen(t, c, q, int64(trimEntries-half+100))
	if !exists(t, c, q, ids[half]) {
		t.Fatalf("entry %s, not yet read by group lagging, was trimmed (stream holds %d entries)", ids[half], n)
	}
	if n > int64(trimEntries-half+100) {
		t.Errorf("stream holds %d entries, want the %d lagging has not read, and at most a node more",
			n, trimEntries-half)
	}
}

// TestTrimRefused: on a server that refuses scripts, acks delete their
// entries with XDEL instead, from the first ack on.
func TestTrimRefused(t *testing.T) {
	port := swarmtest.FreePort(t)
	p := swarmtest.StartProcess(t, fmt.Sprintf("127.0.0.1:%d", port), nil,
		"redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	c := rawClient(t, p.Addr)
	if err := c.Do(context.Background(), "acl", "setuser", "default", "-@scripting").Err(); err != nil {
		t.Fatal(err)
	}
	b, err := redis.New("q", redis.WithAddr(p.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fill(t, c, "q", 300)
	consume(t, b, 300)
	if n := waitLen(t, c, "q", 0); n != 0 {
		t.Errorf("stream holds %d of 300 acked entries, want 0", n)
	}
}
