package amqp_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/amqp"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

func TestInvalidOptions(t *testing.T) {
	for name, c := range map[string]struct {
		queue string
		opts  []amqp.Option
		want  string
	}{
		"empty queue":      {"", nil, "queue name is empty"},
		"reserved queue":   {"amq.x", nil, "reserved prefix"},
		"long queue":       {strings.Repeat("q", 250), nil, "too long"},
		"no URL":           {"q", []amqp.Option{amqp.WithURL()}, "WithURL"},
		"empty URL":        {"q", []amqp.Option{amqp.WithURL("")}, "WithURL"},
		"bad scheme":       {"q", []amqp.Option{amqp.WithURL("http://h/")}, "scheme"},
		"prefetch 0":       {"q", []amqp.Option{amqp.WithPrefetch(0)}, "WithPrefetch"},
		"prefetch big":     {"q", []amqp.Option{amqp.WithPrefetch(70000)}, "WithPrefetch"},
		"dial timeout":     {"q", []amqp.Option{amqp.WithDialTimeout(0)}, "WithDialTimeout"},
		"heartbeat":        {"q", []amqp.Option{amqp.WithHeartbeat(-time.Second)}, "WithHeartbeat"},
		"backoff":          {"q", []amqp.Option{amqp.WithReconnectBackoff(time.Second, time.Millisecond)}, "WithReconnectBackoff"},
		"receive wait":     {"q", []amqp.Option{amqp.WithReceiveWait(0)}, "WithReceiveWait"},
		"dlx arg":          {"q", []amqp.Option{amqp.WithQueueArgs(map[string]any{"x-dead-letter-exchange": "e"})}, "WithQueueArgs"},
		"empty dlq":        {"q", []amqp.Option{amqp.WithDeadLetterQueue("")}, "WithDeadLetterQueue"},
		"dlq is queue":     {"q", []amqp.Option{amqp.WithDeadLetterQueue("q")}, "queue itself"},
		"max payload":      {"q", []amqp.Option{amqp.WithMaxPayload(0)}, "WithMaxPayload"},
		"empty user":       {"q", []amqp.Option{amqp.WithCredentials("", "pw")}, "WithCredentials"},
		"nil dial":         {"q", []amqp.Option{amqp.WithConnection(nil)}, "WithConnection"},
		"kernel option":    {"q", []amqp.Option{amqp.WithKernel(swarm.WithAckCapacity(0))}, "ack capacity"},
		"password hidden":  {"q", []amqp.Option{amqp.WithURL("amqp://u:pw-s3cret@h:badport/")}, "URL"},
		"password hidden2": {"q", []amqp.Option{amqp.WithURL("amqp://u:pw-s3cret@h/%zz")}, "URL"},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := amqp.New(c.queue, c.opts...)
			if err == nil {
				b.Close()
				t.Fatal("New accepted an invalid setting")
			}
			if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("New = %v, want ErrConfig naming %q", err, c.want)
			}
			if strings.Contains(err.Error(), "pw-s3cret") {
				t.Errorf("error holds the password: %v", err)
			}
		})
	}
}

// TestUnreachableServer: New fails fast, names the server, hides the
// password.
func TestUnreachableServer(t *testing.T) {
	port := swarmtest.FreePort(t)
	for _, opts := range [][]amqp.Option{
		{amqp.WithURL("amqp://bob:pw-s3cret@127.0.0.1:" + strconv.Itoa(port) + "/")},
		{amqp.WithURL("amqp://127.0.0.1:" + strconv.Itoa(port) + "/"), amqp.WithCredentials("bob", "pw-s3cret")},
	} {
		_, err := amqp.New("q", append(opts, amqp.WithDialTimeout(time.Second))...)
		if err == nil {
			t.Fatal("New succeeded without a server")
		}
		if strings.Contains(err.Error(), "pw-s3cret") || strings.Contains(err.Error(), "bob") {
			t.Errorf("error holds credentials: %v", err)
		}
		if !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
			t.Errorf("error does not name the server: %v", err)
		}
	}
}

// TestTLSOption: WithTLS makes an amqp:// URL speak TLS with the given
// config (here against a TLS server that is not AMQP: the handshake is
// what is checked).
func TestTLSOption(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS()
	defer srv.Close()
	var verified atomic.Bool
	cfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // test server with a throwaway certificate
		VerifyConnection:   func(tls.ConnectionState) error { verified.Store(true); return nil },
	}
	addr := strings.TrimPrefix(srv.URL, "https://")
	_, err := amqp.New("q", amqp.WithURL("amqp://bob:pw-s3cret@"+addr+"/"), amqp.WithTLS(cfg),
		amqp.WithDialTimeout(2*time.Second))
	if err == nil {
		t.Fatal("an HTTPS server passed for RabbitMQ")
	}
	if !verified.Load() {
		t.Errorf("no TLS handshake with the given config; error: %v", err)
	}
	if strings.Contains(err.Error(), "pw-s3cret") || !strings.Contains(err.Error(), "amqps://") {
		t.Errorf("error %v: want amqps named and no password", err)
	}
}

func TestWrongPassword(t *testing.T) {
	swarmtest.RequireTCP(t, "RabbitMQ", "127.0.0.1:5672")
	_, err := amqp.New("q", amqp.WithURL("amqp://guest:pw-s3cret@127.0.0.1:5672/"))
	if err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if strings.Contains(err.Error(), "pw-s3cret") {
		t.Errorf("error holds the password: %v", err)
	}
}

// TestCredentialsAndOpener: WithCredentials wins over the URL's, and
// swarm.Open reaches the same queue by URL.
func TestCredentialsAndOpener(t *testing.T) {
	swarmtest.RequireTCP(t, "RabbitMQ", "127.0.0.1:5672")
	queue := "swarm-amqp-opener"
	t.Cleanup(func() { deleteQueues(t, sharedURL, queue) })
	b, err := amqp.New(queue, amqp.WithURL("amqp://nobody:wrong@127.0.0.1:5672/"), amqp.WithCredentials("guest", "guest"))
	if err != nil {
		t.Fatalf("WithCredentials: %v", err)
	}
	defer b.Close()
	w := emit.NewTyped[swarmtest.Note](b)
	if err := w.Enq(context.Background(), swarmtest.Note{Seq: 42}); err != nil {
		t.Fatal(err)
	}
	o, err := swarm.Open("amqp://guest:guest@127.0.0.1:5672/%2F/" + queue)
	if err != nil {
		t.Fatalf("swarm.Open: %v", err)
	}
	defer o.Close()
	deq, ack := listen.Typed[swarmtest.Note](o)
	select {
	case m := <-deq:
		ack <- m
		if m.Object.Seq != 42 {
			t.Errorf("got %+v", m.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received through swarm.Open")
	}
}
