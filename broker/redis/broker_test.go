package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/redis"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/kernel"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

func open(t *testing.T, queue string, opts ...redis.Option) *redis.Broker {
	t.Helper()
	b, err := redis.New(queue, append([]redis.Option{redis.WithAddr(sharedAddr)}, opts...)...)
	if err != nil {
		t.Fatalf("open %s: %v", queue, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func one[T any](t *testing.T, deq <-chan swarm.Msg[T]) swarm.Msg[T] {
	t.Helper()
	select {
	case m := <-deq:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	panic("unreachable")
}

// deadConsumer reads the next entry of queue as a consumer that then dies
// without settling it.
func deadConsumer(t *testing.T, c *goredis.Client, queue, name string) {
	t.Helper()
	res, err := c.XReadGroup(context.Background(), &goredis.XReadGroupArgs{
		Group: redis.DefaultGroup, Consumer: name, Streams: []string{queue, ">"}, Count: 1, Block: time.Second,
	}).Result()
	if err != nil || len(res) != 1 || len(res[0].Messages) != 1 {
		t.Fatalf("dead consumer read %v, %v", res, err)
	}
}

// TestCrashedConsumer: an entry a consumer read and never settled comes
// back to another once the lease has run out, as a second attempt.
func TestCrashedConsumer(t *testing.T) {
	swarmtest.RequireTCP(t, "redis", sharedAddr)
	q := queueName(t, newKeys(t, sharedAddr))
	lease := redis.WithKernel(swarm.WithTimeToFlight(500 * time.Millisecond))
	enq, _ := emit.Typed[swarmtest.Note](open(t, q, lease))
	enq <- swarmtest.Note{Seq: 1}
	deadConsumer(t, rawClient(t, sharedAddr), q, "crashed")

	start := time.Now()
	deq, ack := listen.Typed[swarmtest.Note](open(t, q, lease))
	m := one(t, deq)
	ack <- m
	if m.Object.Seq != 1 || m.Attempt() != 2 {
		t.Fatalf("got %+v attempt %d, want seq 1 attempt 2", m.Object, m.Attempt())
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("claimed after %v, before the lease ran out", d)
	}
}

// TestReusedConsumerName: a process restarted under the same consumer name
// gets what its previous run left pending at once, not after a lease.
func TestReusedConsumerName(t *testing.T) {
	swarmtest.RequireTCP(t, "redis", sharedAddr)
	q := queueName(t, newKeys(t, sharedAddr))
	enq, _ := emit.Typed[swarmtest.Note](open(t, q))
	enq <- swarmtest.Note{Seq: 2}
	deadConsumer(t, rawClient(t, sharedAddr), q, "worker-1")

	start := time.Now()
	deq, ack := listen.Typed[swarmtest.Note](open(t, q, redis.WithConsumer("worker-1")))
	m := one(t, deq)
	ack <- m
	if m.Object.Seq != 2 || m.Attempt() != 2 {
		t.Fatalf("got %+v attempt %d, want seq 2 attempt 2", m.Object, m.Attempt())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("left entry came back after %v", d)
	}
}

// TestNackDelay: a failed message comes back after its redelivery delay,
// not before.
func TestNackDelay(t *testing.T) {
	swarmtest.RequireTCP(t, "redis", sharedAddr)
	q := queueName(t, newKeys(t, sharedAddr))
	const delay = 700 * time.Millisecond
	b := open(t, q, redis.WithKernel(swarm.WithRedelivery(swarm.ConstantBackoff(delay, 5))))
	if !b.Kernel().Capabilities().Delay {
		t.Fatal("Delay not declared")
	}
	enq, _ := emit.Typed[swarmtest.Note](b)
	deq, ack := listen.Typed[swarmtest.Note](b)
	enq <- swarmtest.Note{Seq: 3}
	m := one(t, deq)
	start := time.Now()
	ack <- m.Fail(errors.New("later"))
	m = one(t, deq)
	ack <- m
	if d := time.Since(start); d < delay-50*time.Millisecond || d > delay+3*time.Second {
		t.Errorf("redelivered after %v, want about %v", d, delay)
	}
	if m.Attempt() != 2 {
		t.Errorf("attempt %d, want 2", m.Attempt())
	}
}

// TestDeadLetterFields: a dead letter keeps its category, id, attributes
// and payload in <stream>.dlq, and leaves the stream.
func TestDeadLetterFields(t *testing.T) {
	swarmtest.RequireTCP(t, "redis", sharedAddr)
	q := queueName(t, newKeys(t, sharedAddr))
	e, err := open(t, q).Kernel().Emitter("Note", "raw", false)
	if err != nil {
		t.Fatal(err)
	}
	env := e.Envelope([]byte("{not json"))
	env.Attrs = map[string]string{"tenant": "acme"}
	if errs := e.Send(context.Background(), []kernel.Envelope{env}); errs != nil {
		t.Fatal(errs[0])
	}
	c := rawClient(t, sharedAddr)
	sent, err := c.XRange(context.Background(), q, "-", "+").Result()
	if err != nil || len(sent) != 1 {
		t.Fatalf("%d entries in the stream (%v), want the one sent", len(sent), err)
	}
	source := sent[0].ID
	if _, ok := sent[0].Values["id"]; ok {
		t.Errorf("entry fields %v: emit wrote an id field (the entry id is the message id)", sent[0].Values)
	}
	deq, _ := listen.Typed[swarmtest.Note](open(t, q))
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, err := c.XRange(context.Background(), q+".dlq", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 1 {
			v := msgs[0].Values
			// The id is the entry's in the source stream (its message id):
			// emit writes no id field.
			if v["category"] != "Note" || v["id"] != source || v["attr.tenant"] != "acme" || v["payload"] != "{not json" {
				t.Errorf("dead letter fields %v", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters in %s.dlq, want 1", len(msgs), q)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, _ := c.XLen(context.Background(), q).Result(); n != 0 {
		t.Errorf("%d entries left in the stream after the dead letter", n)
	}
	select {
	case m := <-deq:
		t.Errorf("undecodable message delivered: %+v", m)
	default:
	}
}

// TestKeepAcked: WithKeepAcked leaves acked entries for other groups.
func TestKeepAcked(t *testing.T) {
	swarmtest.RequireTCP(t, "redis", sharedAddr)
	q := queueName(t, newKeys(t, sharedAddr))
	b := open(t, q, redis.WithKeepAcked(), redis.WithGroup("billing"))
	audit := open(t, q, redis.WithKeepAcked(), redis.WithGroup("audit"))
	enq, _ := emit.Typed[swarmtest.Note](b)
	deq, ack := listen.Typed[swarmtest.Note](b)
	deqA, ackA := listen.Typed[swarmtest.Note](audit)
	enq <- swarmtest.Note{Seq: 5}
	ack <- one(t, deq)
	ackA <- one(t, deqA) // every group gets every message
	time.Sleep(200 * time.Millisecond)
	if n, _ := rawClient(t, sharedAddr).XLen(context.Background(), q).Result(); n != 1 {
		t.Errorf("stream holds %d entries after acks with WithKeepAcked, want 1", n)
	}
}

// TestOpenURL opens the broker by URL and through an existing client.
func TestOpenURL(t *testing.T) {
	swarmtest.RequireTCP(t, "redis", sharedAddr)
	q := queueName(t, newKeys(t, sharedAddr))
	b, err := swarm.Open(fmt.Sprintf("redis://%s/%s?group=g1&maxlen=1000", sharedAddr, q))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !strings.Contains(b.Kernel().Queue(), q) {
		t.Errorf("queue %q does not name the stream", b.Kernel().Queue())
	}
	c := rawClient(t, sharedAddr)
	other, err := redis.New(q, redis.WithClient(c), redis.WithGroup("g1"))
	if err != nil {
		t.Fatal(err)
	}
	enq, _ := emit.Typed[swarmtest.Note](b)
	deq, ack := listen.Typed[swarmtest.Note](other)
	enq <- swarmtest.Note{Seq: 6}
	ack <- one(t, deq)
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Errorf("the broker closed the client it was given: %v", err)
	}
}

// TestCredentials: a private server with a password accepts the right one,
// and a refusal never shows the password.
func TestCredentials(t *testing.T) {
	port := swarmtest.FreePort(t)
	p := swarmtest.StartProcess(t, fmt.Sprintf("127.0.0.1:%d", port), nil,
		"redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--requirepass", "right-pass-1")
	_, err := redis.New("q", redis.WithAddr(p.Addr), redis.WithPassword("wrong-pass-2"))
	if err == nil {
		t.Fatal("New with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), "wrong-pass-2") || strings.Contains(err.Error(), "right-pass-1") {
		t.Errorf("error shows a password: %v", err)
	}
	_, err = swarm.Open(fmt.Sprintf("redis://:wrong-pass-2@%s/q", p.Addr))
	if err == nil || strings.Contains(err.Error(), "wrong-pass-2") {
		t.Errorf("Open with a wrong password: %v", err)
	}
	b, err := redis.New("q", redis.WithAddr(p.Addr), redis.WithPassword("right-pass-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if strings.Contains(b.Kernel().Queue(), "right-pass-1") {
		t.Errorf("queue name %q shows the password", b.Kernel().Queue())
	}
	enq, _ := emit.Typed[swarmtest.Note](b)
	deq, ack := listen.Typed[swarmtest.Note](b)
	enq <- swarmtest.Note{Seq: 7}
	ack <- one(t, deq)
}

// TestStreamDeleted: when the stream and its group vanish (deleted, or a
// server restarted without persistence), the listener recreates the group
// and receives what is emitted afterwards.
func TestStreamDeleted(t *testing.T) {
	swarmtest.RequireTCP(t, "redis", sharedAddr)
	q := queueName(t, newKeys(t, sharedAddr))
	b := open(t, q)
	enq, _ := emit.Typed[swarmtest.Note](b)
	deq, ack := listen.Typed[swarmtest.Note](b)
	enq <- swarmtest.Note{Seq: 1}
	ack <- one(t, deq)
	if err := rawClient(t, sharedAddr).Del(context.Background(), q).Err(); err != nil {
		t.Fatal(err)
	}
	enq <- swarmtest.Note{Seq: 2}
	m := one(t, deq)
	ack <- m
	if m.Object.Seq != 2 {
		t.Fatalf("got %+v, want seq 2", m.Object)
	}
}

// TestEarlierLayout: an entry written by an earlier version (with an id
// field) is received with that id; one written now with its entry id.
func TestEarlierLayout(t *testing.T) {
	swarmtest.RequireTCP(t, "redis", sharedAddr)
	q := queueName(t, newKeys(t, sharedAddr))
	b := open(t, q)
	c := rawClient(t, sharedAddr)
	if err := c.XAdd(context.Background(), &goredis.XAddArgs{Stream: q,
		Values: []any{"category", "Note", "id", "earlier-1", "payload", `{"seq":5}`}}).Err(); err != nil {
		t.Fatal(err)
	}
	enq, _ := emit.Typed[swarmtest.Note](b)
	enq <- swarmtest.Note{Seq: 6}
	deq, ack := listen.Typed[swarmtest.Note](b)
	for _, want := range []int{5, 6} {
		select {
		case m := <-deq:
			wantID := "earlier-1"
			if want == 6 {
				ids, err := c.XRange(context.Background(), q, "-", "+").Result()
				if err != nil || len(ids) == 0 {
					t.Fatalf("stream entries: %v %v", ids, err)
				}
				wantID = ids[len(ids)-1].ID
			}
			if m.Object.Seq != want || m.ID() != wantID {
				t.Errorf("received seq %d id %q, want %d id %q", m.Object.Seq, m.ID(), want, wantID)
			}
			ack <- m
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d not received", want)
		}
	}
}

// TestMaxLen: emits keep the stream near WithMaxLen, trimmed after each
// pipeline (by its last XADD) to fewer than the bound plus one stream node
// (MAXLEN ~ drops whole nodes), with nobody reading.
func TestMaxLen(t *testing.T) {
	swarmtest.RequireTCP(t, "redis", sharedAddr)
	q := queueName(t, newKeys(t, sharedAddr))
	const maxLen, n = 200, 3000
	b := open(t, q, redis.WithMaxLen(maxLen))
	c := rawClient(t, sharedAddr)
	ctx := context.Background()
	node := int64(100) // stream-node-max-entries unless the server says otherwise
	if cfg, err := c.ConfigGet(ctx, "stream-node-max-entries").Result(); err == nil {
		fmt.Sscan(cfg["stream-node-max-entries"], &node)
	}
	enq, _ := emit.Typed[swarmtest.Note](b)
	for i := range n {
		enq <- swarmtest.Note{Seq: i}
	}
	if err := b.Kernel().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := c.XLen(ctx, q).Result()
	if err != nil {
		t.Fatal(err)
	}
	if l < maxLen || l >= maxLen+node {
		t.Errorf("stream holds %d entries after %d emits with WithMaxLen(%d), want %d to %d", l, n, maxLen, maxLen, maxLen+node-1)
	}
}
