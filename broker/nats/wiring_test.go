package nats_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/nats"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/kernel"
	"github.com/swarm-go/swarm/listen"
)

type note struct {
	N int `json:"n"`
}

// roundTrip sends one message on q and waits for it.
func roundTrip(t *testing.T, q swarm.Broker, n int) {
	t.Helper()
	enq, _ := emit.Typed[note](q)
	deq, ack := listen.Typed[note](q)
	enq <- note{N: n}
	select {
	case m := <-deq:
		ack <- m
		if m.Object.N != n {
			t.Fatalf("got %d, want %d", m.Object.N, n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
}

// authServer runs an embedded server on a TCP port with extra settings.
func authServer(t *testing.T, set func(*server.Options)) *nats.Server {
	t.Helper()
	s, err := nats.RunServer(t.TempDir(), nats.ListenOn("127.0.0.1:0"), set)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestUserPassword(t *testing.T) {
	s := authServer(t, func(o *server.Options) { o.Username, o.Password = "app", "hunter2-secret" })
	q, err := nats.New("auth", nats.WithURL(s.ClientURL()), nats.WithUserPassword("app", "hunter2-secret"))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, q, 1)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = nats.New("auth", nats.WithURL(s.ClientURL()), nats.WithUserPassword("app", "wrong-pa55word"))
	if err == nil {
		t.Fatal("a wrong password connected")
	}
	if strings.Contains(err.Error(), "wrong-pa55word") {
		t.Errorf("error shows the password: %v", err)
	}
	// The same in the URL.
	u := strings.Replace(s.ClientURL(), "nats://", "nats://app:wrong-pa55word@", 1)
	_, err = nats.New("auth", nats.WithURL(u))
	if err == nil || strings.Contains(err.Error(), "wrong-pa55word") {
		t.Errorf("error %v: want a failure that does not show the password", err)
	}
}

func TestToken(t *testing.T) {
	s := authServer(t, func(o *server.Options) { o.Authorization = "t0ken-value" })
	q, err := nats.New("token", nats.WithURL(s.ClientURL()), nats.WithToken("t0ken-value"))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, q, 2)
	_ = q.Close()
	_, err = nats.New("token", nats.WithURL(s.ClientURL()), nats.WithToken("bad-t0ken"))
	if err == nil || strings.Contains(err.Error(), "bad-t0ken") {
		t.Errorf("error %v: want a failure that does not show the token", err)
	}
}

func TestUnreachableErrorHidesPassword(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err := nats.New("q", nats.WithURL("nats://u:pa55-in-url@"+addr), nats.WithConnectTimeout(500*time.Millisecond))
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	if strings.Contains(err.Error(), "pa55-in-url") || !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q: want the address and not the password", err)
	}
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	s := authServer(t, func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		o.TLS = true
		o.TLSTimeout = 2
	})
	q, err := nats.New("tls", nats.WithURL(s.ClientURL()), nats.WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, q, 3)
	_ = q.Close()
	// Without the CA the server's certificate is refused.
	if _, err := nats.New("tls", nats.WithURL(s.ClientURL()), nats.WithTLS(nil), nats.WithConnectTimeout(time.Second)); err == nil {
		t.Error("connected to a server whose certificate is not trusted")
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestEmbeddedShared: brokers of one store directory share one server,
// which stops with the last of them; messages survive it.
func TestEmbeddedShared(t *testing.T) {
	dir := t.TempDir()
	a, err := nats.New("shared", nats.WithEmbeddedServer(dir))
	if err != nil {
		t.Fatal(err)
	}
	b, err := nats.New("shared", nats.WithEmbeddedServer(dir))
	if err != nil {
		t.Fatal(err)
	}
	enq, _ := emit.Typed[note](a)
	enq <- note{N: 7}
	_ = a.Close()
	_ = b.Close()
	// Both closed: the server stopped and released its directory, so a
	// new one can start on it, and the message was kept on disk.
	c, err := swarm.Open("nats:///shared?embedded=" + dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deq, ack := listen.Typed[note](c)
	select {
	case m := <-deq:
		ack <- m
		if m.Object.N != 7 {
			t.Fatalf("got %d", m.Object.N)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the message did not survive the embedded server's restart")
	}
}

func TestExistingStream(t *testing.T) {
	s, err := nats.RunServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nc, err := natsgo.Connect("", natsgo.InProcessServer(s.NATS()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	// An operator's stream (limits retention) captures the queue: used as is.
	q, err := nats.New("orders.eu", nats.WithConn(nc), nats.WithStream("ORDERS"))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, q, 4)
	_ = q.Close()
	if nc.IsClosed() {
		t.Fatal("Close closed the connection given by WithConn")
	}
	// A stream of that name capturing something else is an error.
	_, err = nats.New("billing", nats.WithConn(nc), nats.WithStream("ORDERS"))
	if err == nil || !strings.Contains(err.Error(), "does not capture subject billing") {
		t.Errorf("err = %v, want a stream that does not capture the queue", err)
	}
}

// TestStreamDeleted: a stream deleted under running brokers (or lost with a
// memory-storage server's restart) is set up again, and messages flow.
func TestStreamDeleted(t *testing.T) {
	s, err := nats.RunServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, err := nats.New("phoenix", nats.WithServer(s), nats.WithKernel(swarm.WithStdErr(make(chan error, 64))))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	enq, _ := emit.Typed[note](q)
	deq, ack := listen.Typed[note](q)
	nc, _ := natsgo.Connect("", natsgo.InProcessServer(s.NATS()))
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for i := range 2 {
		enq <- note{N: i}
		select {
		case m := <-deq:
			ack <- m
		case <-time.After(15 * time.Second):
			t.Fatalf("message %d did not arrive", i)
		}
		if i == 0 {
			if err := js.DeleteStream(context.Background(), "phoenix"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestNKeyAndCreds(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	path := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	s := authServer(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} })
	q, err := nats.New("nkey", nats.WithURL(s.ClientURL()), nats.WithNKeyFile(path))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, q, 5)
	_ = q.Close()
	if _, err := nats.New("nkey", nats.WithURL(s.ClientURL())); err == nil {
		t.Error("connected without the NKey")
	}
	_, err = nats.New("nkey", nats.WithURL(s.ClientURL()), nats.WithCredsFile("/nonexistent/app.creds"))
	if err == nil || !strings.Contains(err.Error(), "app.creds") {
		t.Errorf("err = %v, want one naming the missing creds file", err)
	}
	if strings.Contains(fmt.Sprint(err), string(seed)) {
		t.Error("error shows the seed")
	}
}

// TestHeadersAndDeadLetter: any attribute round-trips (newlines, leading
// spaces, colons in keys), the id is the stream's (stream:sequence) on every
// attempt, and a dead letter keeps category, id and attributes and names
// where it came from.
func TestHeadersAndDeadLetter(t *testing.T) {
	s, err := nats.RunServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, err := nats.New("hdr", nats.WithServer(s), nats.WithKernel(
		swarm.WithRedelivery(swarm.ConstantBackoff(10*time.Millisecond, 2)), swarm.WithStdErr(make(chan error, 16))))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	attrs := map[string]string{"weird key: x": "line1\nline2", "sp": " lead+trail ", "ü": "%41"}
	e, err := q.Kernel().Emitter("blob/v1", "[]byte:blob/v1", false)
	if err != nil {
		t.Fatal(err)
	}
	env := e.Envelope([]byte{0, 0xff, '\n'})
	env.Attrs = attrs
	if errs := e.Send(context.Background(), []kernel.Envelope{env}); errs != nil {
		t.Fatal(errs[0])
	}
	deq, ack := listen.Bytes(q, swarm.NewCodecBytes("blob/v1"))
	const id = "hdr:1"
	for attempt := 1; attempt <= 2; attempt++ {
		select {
		case m := <-deq:
			if m.Attempt() != attempt || m.ID() != id || m.Category() != "blob/v1" || !maps.Equal(m.Attrs(), attrs) {
				t.Fatalf("attempt %d id %q category %q attrs %q, want %d %q blob/v1 %q",
					m.Attempt(), m.ID(), m.Category(), m.Attrs(), attempt, id, attrs)
			}
			ack <- m.Fail(errors.New("no"))
		case <-time.After(10 * time.Second):
			t.Fatalf("attempt %d did not arrive", attempt)
		}
	}
	nc, _ := natsgo.Connect("", natsgo.InProcessServer(s.NATS()))
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var dl *jetstream.RawStreamMsg
	for dl == nil && ctx.Err() == nil {
		st, err := js.Stream(ctx, "hdr_dlq")
		if err == nil {
			dl, _ = st.GetMsg(ctx, 1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if dl == nil {
		t.Fatal("no dead letter in stream hdr_dlq")
	}
	if dl.Subject != "hdr.dlq" || !strings.HasPrefix(dl.Header.Get(nats.HeaderDeadLetterFrom), "hdr:") ||
		dl.Header.Get(nats.HeaderCategory) != "blob%2Fv1" || string(dl.Data) != "\x00\xff\n" {
		t.Errorf("dead letter subject %q headers %v data %q", dl.Subject, dl.Header, dl.Data)
	}
	// Read back through a broker on the dead-letter queue: same category, id, attrs.
	dq, err := nats.New("hdr.dlq", nats.WithServer(s))
	if err != nil {
		t.Fatal(err)
	}
	defer dq.Close()
	ddeq, dack := listen.Bytes(dq, swarm.NewCodecBytes("blob/v1"))
	select {
	case m := <-ddeq:
		dack <- m
		if m.ID() != id || !maps.Equal(m.Attrs(), attrs) {
			t.Errorf("dead letter read back with id %q attrs %q", m.ID(), m.Attrs())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dead letter not readable on hdr.dlq")
	}
}
