package amqp

import (
	"crypto/tls"
	"errors"
	"net/url"
	"strings"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

func TestSplitURL(t *testing.T) {
	for _, c := range []struct{ in, server, queue string }{
		{"amqp://guest:guest@127.0.0.1:5672/orders", "amqp://guest:guest@127.0.0.1:5672/", "orders"},
		{"amqps://h/vh/orders", "amqps://h/vh", "orders"},
		{"amqp://h/%2F/orders", "amqp://h/%2F", "orders"},
		{"amqp://h/a%2Fb/or%20ders?heartbeat=5", "amqp://h/a%2Fb?heartbeat=5", "or ders"},
	} {
		u, err := url.Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		server, queue, err := splitURL(u)
		if err != nil || server != c.server || queue != c.queue {
			t.Errorf("splitURL(%s) = %q, %q, %v; want %q, %q", c.in, server, queue, err, c.server, c.queue)
		}
		if uri, err := amqp091.ParseURI(server); err != nil {
			t.Errorf("server URL %s does not parse: %v", server, err)
		} else if c.in == "amqp://h/%2F/orders" && uri.Vhost != "/" {
			t.Errorf("vhost of %s = %q, want /", server, uri.Vhost)
		}
	}
	for _, in := range []string{"amqp://user:pw-s3cret@h", "amqp://user:pw-s3cret@h/", "amqp://h/vh/"} {
		u, _ := url.Parse(in)
		if _, _, err := splitURL(u); err == nil {
			t.Errorf("splitURL(%s) accepted a URL without a queue", in)
		} else if strings.Contains(err.Error(), "pw-s3cret") {
			t.Errorf("error holds the password: %v", err)
		}
	}
}

func TestTargetsTLSAndRedaction(t *testing.T) {
	c := defaultConfig()
	WithURL("amqp://bob:pw-s3cret@rabbit.example:5673/prod", "amqp://bob:pw-s3cret@rabbit2.example/")(&c)
	WithTLS(&tls.Config{MinVersion: tls.VersionTLS13})(&c)
	ts, err := c.parseTargets()
	if err != nil {
		t.Fatal(err)
	}
	if ts[0].uri.Scheme != "amqps" || ts[0].uri.Port != 5673 || ts[1].uri.Port != 5671 {
		t.Errorf("WithTLS: got %s:%d and %s:%d, want amqps, ports 5673 and 5671",
			ts[0].uri.Scheme, ts[0].uri.Port, ts[1].uri.Scheme, ts[1].uri.Port)
	}
	if ts[0].redacted != "amqps://rabbit.example:5673/prod" || ts[1].redacted != "amqps://rabbit2.example:5671/" {
		t.Errorf("redacted = %q, %q", ts[0].redacted, ts[1].redacted)
	}
	for _, tg := range ts {
		if strings.Contains(tg.redacted, "pw-s3cret") || strings.Contains(tg.redacted, "bob") {
			t.Errorf("redacted %q holds credentials", tg.redacted)
		}
	}

	c = defaultConfig()
	WithURL("amqp://bob:pw-s3cret@host:notaport/")(&c)
	if _, err := c.parseTargets(); err == nil || strings.Contains(err.Error(), "pw-s3cret") {
		t.Errorf("bad URL error = %v: want an error without the password", err)
	}
}

func TestScrub(t *testing.T) {
	err := errors.New(`parse "amqp://u:pw-s3cret@h": bad`)
	if got := scrub(err, "pw-s3cret").Error(); strings.Contains(got, "pw-s3cret") || !strings.Contains(got, "xxxxx") {
		t.Errorf("scrub = %q", got)
	}
	if got := scrub(err, "other"); got != err {
		t.Errorf("scrub changed an error without secrets: %v", got)
	}
	if scrub(nil, "x") != nil {
		t.Error("scrub(nil) is not nil")
	}
}

func TestAttemptAndAttrs(t *testing.T) {
	for _, c := range []struct {
		d    amqp091.Delivery
		want int
	}{
		{amqp091.Delivery{}, 1},
		{amqp091.Delivery{Redelivered: true}, 2},
		{amqp091.Delivery{Headers: amqp091.Table{attemptHeader: int64(3)}}, 4},
		{amqp091.Delivery{Headers: amqp091.Table{attemptHeader: int32(3)}, Redelivered: true}, 5},
		{amqp091.Delivery{Headers: amqp091.Table{"x-delivery-count": int64(2)}, Redelivered: true}, 3},
	} {
		if got := attemptOf(&c.d); got != c.want {
			t.Errorf("attemptOf(%+v) = %d, want %d", c.d.Headers, got, c.want)
		}
	}
	attrs := attrsOf(amqp091.Table{"tenant": "acme", attemptHeader: int64(1), "x-death": []any{}, "n": int64(5)})
	if len(attrs) != 1 || attrs["tenant"] != "acme" {
		t.Errorf("attrsOf = %v, want only tenant", attrs)
	}
}

func TestRepublishKeepsProperties(t *testing.T) {
	h := &handle{attempt: 2, msg: amqp091.Delivery{
		MessageId: "id-1", Type: "Note", CorrelationId: "c", Body: []byte("x"),
		Headers: amqp091.Table{"tenant": "acme", "x-delivery-count": int64(1)},
	}}
	p := h.republish()
	if p.MessageId != "id-1" || p.Type != "Note" || p.CorrelationId != "c" || string(p.Body) != "x" ||
		p.DeliveryMode != amqp091.Persistent || p.Headers["tenant"] != "acme" || p.Headers[attemptHeader] != int64(2) {
		t.Errorf("republish = %+v", p)
	}
	if _, ok := p.Headers["x-delivery-count"]; ok {
		t.Error("republish kept the server's delivery count")
	}
	if _, ok := h.msg.Headers[attemptHeader]; ok {
		t.Error("republish modified the delivery's headers")
	}
}
