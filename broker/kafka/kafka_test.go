package kafka

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
	"github.com/twmb/franz-go/pkg/kgo"
)

// These tests need no cluster; the conformance suite runs against kfake in
// the kfaketest module.

func TestOptionValidation(t *testing.T) {
	cases := []struct {
		name  string
		topic string
		opts  []Option
		want  string
	}{
		{"empty topic", "", nil, "topic name is empty"},
		{"no brokers", "t", []Option{WithBrokers()}, "no seed brokers"},
		{"bad broker", "t", []Option{WithBrokers("localhost")}, `seed broker "localhost"`},
		{"empty group", "t", []Option{WithGroup("")}, "consumer group name is empty"},
		{"dlq is topic", "t", []Option{WithDeadLetterTopic("t")}, "dead-letter topic"},
		{"partitions", "t", []Option{WithPartitions(0, 1)}, "partitions is 0"},
		{"replication", "t", []Option{WithPartitions(1, 0)}, "replication factor is 0"},
		{"payload", "t", []Option{WithMaxPayload(0)}, "max payload is 0"},
		{"poll wait", "t", []Option{WithPollWait(0)}, "poll wait is 0s"},
		{"linger", "t", []Option{WithLinger(-time.Second)}, "linger is -1s"},
		{"commit interval", "t", []Option{WithCommitInterval(-time.Second)}, "commit interval is -1s"},
		{"heartbeat", "t", []Option{WithGroupTimeouts(time.Second, 2*time.Second, 0)}, "heartbeat interval 2s must be shorter"},
		{"key attr", "t", []Option{WithKeyAttr("")}, "key attribute name is empty"},
		{"sasl mechanism", "t", []Option{WithSASL("GSSAPI", "u", "p")}, `SASL mechanism "GSSAPI" is unknown`},
		{"sasl user", "t", []Option{WithSASL("PLAIN", "", "p")}, "user is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.topic, c.opts...)
			if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want swarm.ErrConfig mentioning %q", err, c.want)
			}
		})
	}
}

func TestKernelOptionsAreValidated(t *testing.T) {
	_, err := New("t", WithKernel(swarm.WithAckCapacity(0)))
	if !errors.Is(err, swarm.ErrConfig) {
		t.Fatalf("New with a bad kernel option = %v, want swarm.ErrConfig", err)
	}
}

func TestURL(t *testing.T) {
	u, _ := url.Parse("kafka://alice:s3cret@h1:9092,h2:9093/orders?group=billing&partitions=6&dlq=dead&key=tenant&tls=true&sasl=plain")
	topic, opts, err := fromURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	if topic != "orders" || strings.Join(c.brokers, ",") != "h1:9092,h2:9093" || c.group != "billing" ||
		c.partitions != 6 || c.deadLetter != "dead" || c.keyAttr != "tenant" || c.tls == nil ||
		c.saslMech != SASLPlain || c.saslUser != "alice" || c.saslPass != "s3cret" {
		t.Fatalf("topic %q config %+v", topic, c)
	}

	u, _ = url.Parse("kafka://bob:pw@h:1/t")
	_, opts, _ = fromURL(u)
	c = defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	if c.saslMech != SASLScramSHA512 {
		t.Errorf("user info without sasl= uses %q, want %s", c.saslMech, SASLScramSHA512)
	}

	for raw, want := range map[string]string{
		"kafka://h:1/":                    "not one topic name",
		"kafka://h:1/a/b":                 "not one topic name",
		"kafka://h:1/t?colour=red":        `unknown parameter "colour"`,
		"kafka://h:1/t?partitions=many":   "not a number",
		"kafka://h:1/t?tls=maybe":         "not true or false",
		"kafka://h:1/t?sasl=PLAIN":        "needs user:password@",
		"kafka://u:hunter2@h:1/t?tls=bad": "not true or false",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = fromURL(u)
		if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want swarm.ErrConfig mentioning %q", raw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %q holds the password", raw, err)
		}
	}
}

func TestOpenRegistered(t *testing.T) {
	_, err := swarm.Open("kafka://h:1/t?colour=red")
	if !errors.Is(err, swarm.ErrConfig) {
		t.Fatalf("swarm.Open = %v, want the kafka opener's config error", err)
	}
}

// TestUnreachableErrorHidesPassword: the error of a cluster that cannot be
// reached names it, and never the credentials.
func TestUnreachableErrorHidesPassword(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = New("orders", WithBrokers(addr), WithSASL("SCRAM-SHA-256", "alice", "hunter2"),
		WithSetupTimeout(500*time.Millisecond), WithDialTimeout(100*time.Millisecond))
	if err == nil {
		t.Fatal("New reached a cluster that does not exist")
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "orders") {
		t.Errorf("error %q does not name the broker and topic", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q holds the password", err)
	}
}

// TestTLSWiring: with WithTLS the client's first bytes are a TLS handshake;
// without it, a Kafka request.
func TestTLSWiring(t *testing.T) {
	for _, useTLS := range []bool{true, false} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		first := make(chan []byte, 1)
		go func() {
			// Read the first bytes of every connection and drop it, so the
			// client fails fast instead of waiting on an accept backlog.
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				b := make([]byte, 3)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _ := c.Read(b)
				c.Close()
				select {
				case first <- b[:n]:
				default:
				}
			}
		}()
		opts := []Option{WithBrokers(l.Addr().String()), WithSetupTimeout(time.Second), WithDialTimeout(300 * time.Millisecond)}
		if useTLS {
			opts = append(opts, WithTLS(&tls.Config{ServerName: "kafka.test", MinVersion: tls.VersionTLS12}))
		}
		_, _ = New("t", opts...)
		l.Close()
		got := <-first
		isHello := len(got) == 3 && bytes.Equal(got[:2], []byte{0x16, 0x03})
		if isHello != useTLS {
			t.Errorf("WithTLS %v: first bytes %x, TLS handshake %v", useTLS, got, isHello)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	d := &driver{c: defaultConfig()}
	env := kernel.Envelope{Category: "Note", ID: "id-1", Payload: []byte{0, 0xff},
		Attrs: map[string]string{"tenant": "acme"}}
	r, err := d.record(context.Background(), "t", &env, 3)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Key) != "Note" {
		t.Errorf("key %q, want the category", r.Key)
	}
	r.Topic, r.Partition, r.Offset = "t", 2, 7
	got := envelope(r)
	if got.Category != "Note" || got.ID != "id-1" || got.Attempt != 3 || got.Attrs["tenant"] != "acme" ||
		len(got.Attrs) != 1 || !bytes.Equal(got.Payload, env.Payload) {
		t.Errorf("round trip gave %+v", got)
	}

	foreign := envelope(&kgo.Record{Topic: "t", Partition: 1, Offset: 9, Value: []byte("x")})
	if foreign.Attempt != 1 || foreign.ID != "t/1@9" || foreign.Attrs != nil {
		t.Errorf("record without swarm headers gave %+v", foreign)
	}

	env.Attrs = map[string]string{"swarm-category": "spoof"}
	if _, err := d.record(context.Background(), "t", &env, 1); !kernel.IsPermanent(err) {
		t.Errorf("reserved attribute: %v, want a permanent error", err)
	}
}

// TestBatchRoundTrip: records built from shared slabs keep their own key,
// headers and id, a header appended to one (dead letters) leaves the next
// intact, and a rejected envelope leaves nothing behind in the slabs.
func TestBatchRoundTrip(t *testing.T) {
	d := &driver{c: defaultConfig()}
	envs := []kernel.Envelope{
		{Category: "A", ID: "id-1", Payload: []byte("1")},
		{Category: "A", ID: "id-2", Payload: []byte("2"), Attrs: map[string]string{"swarm-x": "bad"}},
		{Category: "B", ID: "id-33", Payload: []byte("3"), Attrs: map[string]string{"k": "v"}},
		{Category: "A", ID: "", Payload: []byte("4")},
	}
	b := d.newBuilder(context.Background(), "t", envs)
	var rs []*kgo.Record
	for i := range envs {
		r, err := b.add(&envs[i], 1)
		if i == 1 {
			if !kernel.IsPermanent(err) {
				t.Fatalf("reserved attribute: %v, want a permanent error", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	rs[0].Headers = append(rs[0].Headers, kgo.RecordHeader{Key: "extra", Value: []byte("x")})
	want := []kernel.Envelope{envs[0], envs[2], envs[3]}
	for i, r := range rs {
		r.Topic, r.Partition, r.Offset = "t", 0, int64(i)
		got := envelope(r)
		w := want[i]
		if w.ID == "" {
			w.ID = fmt.Sprintf("t/0@%d", i)
		}
		if string(r.Key) != w.Category || got.Category != w.Category || got.ID != w.ID ||
			string(got.Payload) != string(w.Payload) || got.Attrs["k"] != w.Attrs["k"] {
			t.Errorf("record %d: key %q, envelope %+v, want %+v", i, r.Key, got, w)
		}
		if i > 0 && got.Attrs["extra"] != "" {
			t.Errorf("record %d got the header appended to record 0", i)
		}
	}
}

func TestKeyAttr(t *testing.T) {
	c := defaultConfig()
	WithKeyAttr("tenant")(&c)
	d := &driver{c: c}
	if d.Capabilities().Ordered {
		t.Error("keyed by an attribute, the broker still declares Ordered")
	}
	for attrs, want := range map[string]map[string]string{"acme": {"tenant": "acme"}, "Note": nil} {
		env := kernel.Envelope{Category: "Note", Attrs: want}
		r, _ := d.record(context.Background(), "t", &env, 1)
		if string(r.Key) != attrs {
			t.Errorf("attrs %v: key %q, want %q", want, r.Key, attrs)
		}
	}
}

// TestCommitPrefix: the mark moves only over the contiguous settled prefix.
func TestCommitPrefix(t *testing.T) {
	p := &part{}
	dvs := make([]*delivery, 5)
	for i := range dvs {
		dvs[i] = &delivery{p: p, offset: int64(10 + i), epoch: 2}
		p.pending = append(p.pending, dvs[i])
	}
	settle := func(i int) bool { dvs[i].done = true; return p.advance() }
	if settle(1) || settle(3) || p.dirty {
		t.Fatal("the mark moved past an unsettled delivery")
	}
	if !settle(0) || p.mark.Offset != 12 || p.mark.Epoch != 2 {
		t.Fatalf("after settling 0 and 1 the mark is %+v, want offset 12", p.mark)
	}
	if !settle(2) || p.mark.Offset != 14 {
		t.Fatalf("mark %+v, want 14 (3 was held until 2 settled)", p.mark)
	}
	if !settle(4) || p.mark.Offset != 15 || len(p.pending) != 0 {
		t.Fatalf("mark %+v pending %d, want 15 and none", p.mark, len(p.pending))
	}
}
