package kfaketest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/kafka"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func topicName(t testing.TB) string {
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-"), time.Now().UnixNano())
}

// roundTrip emits one note on q and receives it back.
func roundTrip(t *testing.T, q swarm.Broker) {
	t.Helper()
	enq, _ := emit.Typed[swarmtest.Note](q)
	deq, ack := listen.Typed[swarmtest.Note](q)
	enq <- swarmtest.Note{Seq: 42}
	select {
	case m := <-deq:
		if m.Object.Seq != 42 {
			t.Fatalf("got %+v", m.Object)
		}
		ack <- m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
}

func TestSASL(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "alice", "plain-secret"),
		kfake.Superuser("SCRAM-SHA-256", "bob", "scram256-secret"),
		kfake.Superuser("SCRAM-SHA-512", "carol", "scram512-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	for _, u := range []struct{ mech, user, pass string }{
		{"PLAIN", "alice", "plain-secret"},
		{"scram-sha-256", "bob", "scram256-secret"},
		{"SCRAM-SHA-512", "carol", "scram512-secret"},
	} {
		t.Run(u.mech, func(t *testing.T) {
			q, err := kafka.New(topicName(t), append(options(addr), kafka.WithSASL(u.mech, u.user, u.pass))...)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			roundTrip(t, q)
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		_, err := kafka.New(topicName(t), append(options(addr),
			kafka.WithSASL("SCRAM-SHA-256", "bob", "not-the-secret"), kafka.WithSetupTimeout(3*time.Second))...)
		if err == nil {
			t.Fatal("New authenticated with a wrong password")
		}
		if strings.Contains(err.Error(), "not-the-secret") {
			t.Errorf("error %q holds the password", err)
		}
		t.Logf("wrong password: %v", err)
	})
	t.Run("URL", func(t *testing.T) {
		q, err := swarm.Open(fmt.Sprintf("kafka://bob:scram256-secret@%s/%s?sasl=SCRAM-SHA-256", addr, topicName(t)))
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		roundTrip(t, q)
	})
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	q, err := kafka.New(topicName(t), append(options(addr),
		kafka.WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	roundTrip(t, q)

	// Without TLS the same cluster is unreachable: the option is what
	// made the connection work.
	if _, err := kafka.New(topicName(t), append(options(addr), kafka.WithSetupTimeout(time.Second))...); err == nil {
		t.Error("a plaintext client reached the TLS cluster")
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestCommitAckedPrefix: an ack out of order does not move the group's
// committed offset past an unacked record; once the gap fills, the commit
// covers all of them.
func TestCommitAckedPrefix(t *testing.T) {
	topic := topicName(t)
	ms, ack := receiveThree(t, topic)
	adm := admin(t, seed)
	ack <- ms[2]
	ack <- ms[1]
	time.Sleep(300 * time.Millisecond)
	if off := committed(t, adm, topic); off > 0 {
		t.Fatalf("committed offset %d after acking records 1 and 2 only, want none (record 0 is unacked)", off)
	}
	ack <- ms[0]
	deadline := time.Now().Add(5 * time.Second)
	for committed(t, adm, topic) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("committed offset %d, want 3 once every record was acked", committed(t, adm, topic))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCommitInterval: the first ack after a quiet spell is committed at
// once; acks within the interval after a commit wait for it and go in one
// commit.
func TestCommitInterval(t *testing.T) {
	topic := topicName(t)
	ms, ack := receiveThree(t, topic, kafka.WithCommitInterval(2*time.Second))
	adm := admin(t, seed)
	waitFor := func(want int64, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for committed(t, adm, topic) != want {
			if time.Now().After(deadline) {
				t.Fatalf("committed offset %d, want %d within %v", committed(t, adm, topic), want, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ack <- ms[0]
	waitFor(1, time.Second) // well inside the interval: committed at once
	ack <- ms[1]
	ack <- ms[2]
	time.Sleep(500 * time.Millisecond)
	if off := committed(t, adm, topic); off != 1 {
		t.Fatalf("committed offset %d 0.5s after the first commit, want 1 until the 2s interval passed", off)
	}
	waitFor(3, 5*time.Second)
}

// receiveThree emits three notes to a new one-partition topic and receives
// them, unacked; the broker is closed when the test ends.
func receiveThree(t *testing.T, topic string, opts ...kafka.Option) ([]swarm.Msg[swarmtest.Note], chan<- swarm.Msg[swarmtest.Note]) {
	t.Helper()
	q, err := kafka.New(topic, append(options(seed), append(opts, kafka.WithPartitions(1, -1))...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	enq, _ := emit.Typed[swarmtest.Note](q)
	deq, ack := listen.Typed[swarmtest.Note](q)
	for i := range 3 {
		enq <- swarmtest.Note{Seq: i}
	}
	var ms []swarm.Msg[swarmtest.Note]
	for range 3 {
		select {
		case m := <-deq:
			ms = append(ms, m)
		case <-time.After(10 * time.Second):
			t.Fatalf("received %d of 3", len(ms))
		}
	}
	return ms, ack
}

func admin(t *testing.T, addr string) *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// committed is the group's committed offset of partition 0, -1 for none.
func committed(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	os, err := adm.FetchOffsets(context.Background(), kafka.DefaultGroup)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := os.Lookup(topic, 0); ok {
		return o.At
	}
	return -1
}

// TestRestartKeepsData: messages accepted before a restart of the private
// cluster are there after it, so RunRestart checks a restart with data, not
// a fresh cluster.
func TestRestartKeepsData(t *testing.T) {
	port := swarmtest.FreePort(t)
	dir := t.TempDir()
	c, err := kfake.NewCluster(kfake.Ports(port), kfake.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	addr := c.ListenAddrs()[0]
	topic := topicName(t)
	p, err := kafka.New(topic, options(addr)...)
	if err != nil {
		t.Fatal(err)
	}
	enq, _ := emit.Typed[swarmtest.Note](p)
	for i := range 100 {
		enq <- swarmtest.Note{Seq: i}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c, err = kfake.NewCluster(kfake.Ports(port), kfake.DataDir(dir)); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, err := kafka.New(topic, options(addr)...)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	deq, ack := listen.Typed[swarmtest.Note](q)
	seen := map[int]bool{}
	for len(seen) < 100 {
		select {
		case m := <-deq:
			seen[m.Object.Seq] = true
			ack <- m
		case <-time.After(10 * time.Second):
			t.Fatalf("after the restart %d of 100 messages arrived", len(seen))
		}
	}
}

// TestMaxUncommitted: behind an unacked delivery, a partition's fetching
// pauses once the bound of held records is reached, and resumes, losing
// nothing, once the gap closes.
func TestMaxUncommitted(t *testing.T) {
	const bound, total = 10, 100
	q, err := kafka.New(topicName(t), append(options(seed), kafka.WithPartitions(1, -1),
		kafka.WithMaxUncommitted(bound), kafka.WithKernel(swarm.WithAckCapacity(4)))...)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	enq, _ := emit.Typed[swarmtest.Note](q)
	deq, ack := listen.Typed[swarmtest.Note](q)
	for i := range total {
		enq <- swarmtest.Note{Seq: i}
	}
	first := <-deq // held unacked: the gap
	seen := map[int]bool{first.Object.Seq: true}
	delivered := 1
drain:
	for {
		select {
		case m := <-deq:
			delivered++
			seen[m.Object.Seq] = true
			ack <- m
		case <-time.After(500 * time.Millisecond):
			break drain
		}
	}
	t.Logf("%d delivered behind the unacked one with a bound of %d", delivered, bound)
	// At most one receive (3 free in-flight slots) past the bound.
	if delivered > bound+3 || delivered < bound {
		t.Fatalf("%d delivered behind an unacked one, want about %d (the bound)", delivered, bound)
	}
	ack <- first
	for len(seen) < total {
		select {
		case m := <-deq:
			seen[m.Object.Seq] = true
			ack <- m
		case <-time.After(10 * time.Second):
			t.Fatalf("after the gap closed %d of %d arrived", len(seen), total)
		}
	}
}

// TestCloseWhenClusterGone: Close returns within its timeouts when the
// cluster disappeared while a delivery was in hand, and reports it.
func TestCloseWhenClusterGone(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	q, err := kafka.New(topicName(t), append(options(c.ListenAddrs()[0]),
		kafka.WithSetupTimeout(2*time.Second), kafka.WithDeliveryTimeout(2*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	enq, _ := emit.Typed[swarmtest.Note](q)
	deq, _ := listen.Typed[swarmtest.Note](q)
	enq <- swarmtest.Note{Seq: 1}
	<-deq // in hand: Close must try to release it
	// The send is confirmed before the cluster goes: a produce response
	// lost with the cluster would have the emitter retry it for as long as
	// its retries allow (5 x the 2 s delivery timeout), which is Close
	// flushing the emitter, not Close releasing a delivery.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Kernel().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	start := time.Now()
	err = q.Close()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Close took %v with the cluster gone", d)
	}
	t.Logf("Close with the cluster gone: %v after %v", err, time.Since(start).Round(time.Millisecond))
}
