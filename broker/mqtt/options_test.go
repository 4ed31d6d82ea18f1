package mqtt

import (
	"crypto/tls"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
)

const secret = "hunter2-secret"

func apply(t *testing.T, opts ...Option) (config, error) {
	t.Helper()
	c := defaultConfig()
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

func TestOptionsRejectInvalid(t *testing.T) {
	for name, opt := range map[string]Option{
		"no servers":         WithServers(),
		"credentials in URL": WithServers("mqtt://bob:" + secret + "@h:1883"),
		"bad scheme":         WithServers("http://h:80"),
		"no host":            WithServers("mqtt://"),
		"empty client id":    WithClientID(""),
		"nil TLS":            WithTLS(nil),
		"group with slash":   WithGroup("a/b"),
		"empty group":        WithGroup(""),
		"wildcard DLQ":       WithDeadLetterTopic("x/#"),
		"short keepalive":    WithKeepAlive(time.Millisecond),
		"zero connect":       WithConnectTimeout(0),
		"zero timeout":       WithTimeout(0),
		"short expiry":       WithSessionExpiry(0),
		"receive max 0":      WithReceiveMaximum(0),
		"receive max big":    WithReceiveMaximum(70000),
		"payload 0":          WithMaxPayload(0),
	} {
		_, err := apply(t, opt)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error %q shows the password", name, err)
		}
	}
}

func TestNewRejectsBadQueues(t *testing.T) {
	for _, q := range []string{"", "a/+", "a/#", "$SYS/x", "nul\x00"} {
		if _, err := New(q); !errors.Is(err, swarm.ErrConfig) {
			t.Errorf("New(%q) = %v, want ErrConfig", q, err)
		}
	}
	if _, err := New("q", WithDeadLetterTopic("q")); !errors.Is(err, swarm.ErrConfig) {
		t.Errorf("dead-letter topic equal to the queue: %v, want ErrConfig", err)
	}
	if _, err := New("q", WithKernel(swarm.WithAckCapacity(0))); !errors.Is(err, swarm.ErrConfig) {
		t.Errorf("bad kernel option: %v, want ErrConfig", err)
	}
}

func TestServersAndTLS(t *testing.T) {
	c, err := apply(t, WithServers("h1:1883", "mqtts://h2:8883", "ws://h3/mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := serverList(c.servers); got != "mqtt://h1:1883,mqtts://h2:8883,ws://h3/mqtt" {
		t.Errorf("servers = %s", got)
	}
	if got := serverList(withTLS(c.servers)); got != "mqtts://h1:1883,mqtts://h2:8883,wss://h3/mqtt" {
		t.Errorf("servers with TLS = %s", got)
	}
	cfg := &tls.Config{ServerName: "h1"}
	c, err = apply(t, WithTLS(cfg))
	if err != nil || c.tls != cfg {
		t.Errorf("WithTLS not kept: %v", err)
	}
}

func TestURLOptions(t *testing.T) {
	u, _ := url.Parse("mqtt://bob:" + secret + "@broker.example:1884/orders/eu?group=billing&client_id=pod-1")
	opts, queue, emitOnly, err := urlOptions(u)
	if err != nil {
		t.Fatal(err)
	}
	c, err := apply(t, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if queue != "orders/eu" || emitOnly || c.username != "bob" || c.password != secret ||
		c.group != "billing" || c.clientID != "pod-1" || serverList(c.servers) != "mqtt://broker.example:1884" || c.tls != nil {
		t.Errorf("queue %q emitOnly %v config %+v", queue, emitOnly, c)
	}

	u, _ = url.Parse("mqtts://broker.example/q?emit_only=true")
	opts, queue, emitOnly, err = urlOptions(u)
	if err != nil {
		t.Fatal(err)
	}
	c, _ = apply(t, opts...)
	if queue != "q" || !emitOnly || c.tls == nil || serverList(c.servers) != "mqtts://broker.example:8883" {
		t.Errorf("mqtts: queue %q emitOnly %v servers %s tls %v", queue, emitOnly, serverList(c.servers), c.tls)
	}

	for _, raw := range []string{
		"mqtt://bob:" + secret + "@h/",
		"mqtt://bob:" + secret + "@h/q?colour=red",
		"mqtt://bob:" + secret + "@h/q?emit_only=maybe",
	} {
		u, _ := url.Parse(raw)
		_, _, _, err := urlOptions(u)
		if err == nil {
			t.Errorf("%s: accepted", strings.ReplaceAll(raw, secret, "***"))
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows the password", err)
		}
	}
}

// TestConnectErrorHidesPassword dials a port where nothing listens: New
// fails naming the server, without the password.
func TestConnectErrorHidesPassword(t *testing.T) {
	_, err := New("q", WithServers("mqtt://127.0.0.1:1"), WithUsername("bob"), WithPassword(secret),
		WithConnectTimeout(300*time.Millisecond))
	if err == nil {
		t.Fatal("New succeeded with no server")
	}
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error %q: want the server named and no password", err)
	}
}

func TestScrub(t *testing.T) {
	err := scrub(errors.New("server said: bad password "+secret), secret)
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "***") {
		t.Errorf("scrub = %q", err)
	}
	if scrub(nil, secret) != nil {
		t.Error("scrub(nil) != nil")
	}
}

func TestClientIDs(t *testing.T) {
	c, _ := apply(t, WithClientID("pod-1"), WithGroup("g"))
	if got := clientID(c, "orders"); got != "pod-1/g/orders" {
		t.Errorf("client id = %q", got)
	}
	d := defaultConfig()
	if got := clientID(d, "orders"); !strings.HasPrefix(got, "swarm-") || !strings.HasSuffix(got, "/swarm/orders") {
		t.Errorf("default client id = %q", got)
	}
}

func TestEnvelopePropsReserved(t *testing.T) {
	if _, err := envelopeProps("c", "id", 1, map[string]string{"swarm-id": "x"}); err == nil {
		t.Error("an attribute with the reserved prefix was accepted")
	}
	props, err := envelopeProps("c", "id", 3, map[string]string{"tenant": "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if props.Get(propCategory) != "c" || props.Get(propID) != "id" || props.Get(propAttempt) != "3" || props.Get("tenant") != "acme" {
		t.Errorf("props = %v", props)
	}
}
