package nats

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm"
)

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name  string
		queue string
		opts  []Option
		want  string
	}{
		{"empty queue", "", nil, "queue name is empty"},
		{"empty token", "a..b", nil, "empty token"},
		{"wildcard", "orders.*", nil, "wildcard"},
		{"whitespace", "my queue", nil, "whitespace"},
		{"bad stream", "q", []Option{WithStream("a.b")}, "WithStream"},
		{"empty consumer", "q", []Option{WithConsumer("")}, "WithConsumer"},
		{"bad dlq", "q", []Option{WithDeadLetterQueue("q.>")}, "WithDeadLetterQueue"},
		{"dlq is queue", "q", []Option{WithDeadLetterQueue("q")}, "is the queue itself"},
		{"replicas", "q", []Option{WithReplicas(0)}, "WithReplicas"},
		{"fetch wait", "q", []Option{WithFetchWait(time.Millisecond)}, "too short"},
		{"negative timeout", "q", []Option{WithPublishTimeout(-time.Second)}, "WithPublishTimeout"},
		{"max batch", "q", []Option{WithMaxBatch(0)}, "WithMaxBatch"},
		{"no url", "q", []Option{WithURL()}, "no URL"},
		{"empty url", "q", []Option{WithURL(" ")}, "empty URL"},
		{"empty user", "q", []Option{WithUserPassword("", "pw")}, "empty user"},
		{"token and user", "q", []Option{WithToken("t"), WithUserPassword("u", "p")}, "exclude each other"},
		{"conn and url", "q", []Option{WithConn(nil)}, "nil connection"},
		{"embedded and url", "q", []Option{WithEmbeddedServer("/tmp/x"), WithURL("nats://h:1")}, "in-process server"},
		{"embedded and server", "q", []Option{WithEmbeddedServer("/tmp/x"), WithServer(&Server{})}, "exclude each other"},
		{"storage", "q", []Option{WithStorage(jetstream.StorageType(7))}, "WithStorage"},
		{"retention", "q", []Option{WithRetention(jetstream.RetentionPolicy(7))}, "WithRetention"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := newConfig(c.queue, c.opts)
			if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want swarm.ErrConfig naming %q", err, c.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := newConfig("orders.eu", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.stream != "orders_eu" || c.consumer != DefaultConsumer || c.deadLetter != "orders.eu.dlq" ||
		c.urls[0] != DefaultURL || c.storage != jetstream.FileStorage || c.retention != jetstream.WorkQueuePolicy {
		t.Errorf("defaults = stream %q consumer %q dlq %q urls %v storage %v retention %v",
			c.stream, c.consumer, c.deadLetter, c.urls, c.storage, c.retention)
	}
}

func TestParseURL(t *testing.T) {
	u, _ := url.Parse("nats://user:s3cr3t@h1:4222,h2:4223/orders?consumer=billing&stream=ORDERS&dlq=orders.dead" +
		"&storage=memory&retention=interest&replicas=3&fetchwait=1s&dedup=true&server=nats://h3:4224")
	queue, opts, err := parseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConfig(queue, opts)
	if err != nil {
		t.Fatal(err)
	}
	if queue != "orders" || c.consumer != "billing" || c.stream != "ORDERS" || c.deadLetter != "orders.dead" ||
		c.storage != jetstream.MemoryStorage || c.retention != jetstream.InterestPolicy || c.replicas != 3 ||
		c.fetchWait != time.Second || !c.dedup || c.user != "user" || c.password != "s3cr3t" {
		t.Errorf("parsed %q into %+v", queue, c)
	}
	if got := strings.Join(c.urls, " "); got != "nats://h1:4222 nats://h2:4223 nats://h3:4224" {
		t.Errorf("urls = %s", got)
	}

	u, _ = url.Parse("nats://tok3n@h1/q")
	_, opts, _ = parseURL(u)
	if c, _ := newConfig("q", opts); c.token != "tok3n" || c.dedup {
		t.Errorf("token = %q, dedup = %v", c.token, c.dedup)
	}

	u, _ = url.Parse("nats:///q?embedded=/var/lib/app")
	_, opts, _ = parseURL(u)
	if c, _ := newConfig("q", opts); c.storeDir != "/var/lib/app" {
		t.Errorf("storeDir = %q", c.storeDir)
	}

	for _, raw := range []string{
		"nats://user:s3cr3t@h1/q?bogus=1",
		"nats://user:s3cr3t@h1/",
		"nats://user:s3cr3t@h1/q?storage=tape",
		"nats://user:s3cr3t@h1/q?retention=forever",
		"nats://user:s3cr3t@h1/q?replicas=x",
		"nats://user:s3cr3t@h1/q?fetchwait=x",
		"nats://user:s3cr3t@h1/q?tls=maybe",
		"nats://user:s3cr3t@h1/q?dedup=often",
		"nats://user:s3cr3t@h1/q?embedded=/x",
	} {
		u, _ := url.Parse(raw)
		_, _, err := parseURL(u)
		if !errors.Is(err, swarm.ErrConfig) {
			t.Errorf("%s: err = %v, want swarm.ErrConfig", raw, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error %q shows the password", raw, err)
		}
	}
}

func TestHelpers(t *testing.T) {
	for _, c := range []struct {
		pattern, subject string
		want             bool
	}{
		{"orders", "orders", true},
		{"orders.>", "orders", false},
		{"orders.>", "orders.eu", true},
		{"orders.*", "orders.eu.x", false},
		{">", "a.b", true},
		{"a.*.c", "a.b.c", true},
		{"a.b", "a", false},
	} {
		if got := subjectMatch(c.pattern, c.subject); got != c.want {
			t.Errorf("subjectMatch(%q, %q) = %v", c.pattern, c.subject, got)
		}
	}
	for v, want := range map[string]bool{"2.9.10": true, "2.10.0": false, "2.11.12": false, "1.4.0": true, "3.0.0": false, "": false} {
		if got := olderThan(v, 2, 10); got != want {
			t.Errorf("olderThan(%q) = %v", v, got)
		}
	}
	for raw, want := range map[string]string{
		"nats://u:pw@h:1/x": "pw", "nats://tok@h": "tok", "nats://h:1": "", "h:1": "", "nats://u:p w@h": "p w",
	} {
		if got := urlSecret(raw); got != want {
			t.Errorf("urlSecret(%q) = %q, want %q", raw, got, want)
		}
	}
	if got := streamName("a.b*c>d e"); got != "a_b_c_d_e" {
		t.Errorf("streamName = %q", got)
	}
}

func TestRedact(t *testing.T) {
	c := &config{password: "hunter2", urls: []string{"nats://u:s3cr3t@h:1"}}
	err := redact(errors.New(`parse "nats://u:s3cr3t@h:1": bad; pass hunter2`), c)
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("redact left a secret: %v", err)
	}
	plain := errors.New("connection refused")
	if redact(plain, c) != plain {
		t.Error("redact changed an error without secrets")
	}
}
