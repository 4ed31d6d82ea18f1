package nats

import (
	"context"
	"errors"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pubFixture is a publisher on an in-process server with the stream
// "pubtest" capturing the subject "pubtest".
func pubFixture(t *testing.T, timeout time.Duration) (*natsgo.Conn, *publisher) {
	nc, p, _ := pubServer(t, timeout)
	return nc, p
}

// pubServer is pubFixture with its server.
func pubServer(t *testing.T, timeout time.Duration) (*natsgo.Conn, *publisher, *Server) {
	t.Helper()
	srv, err := RunServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	nc, js := InProcess(t, srv, natsgo.MaxReconnects(-1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "pubtest", Subjects: []string{"pubtest"}}); err != nil {
		t.Fatal(err)
	}
	p, err := newPublisher(nc, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return nc, p, srv
}

func msgsTo(subject string, n int, id string) []natsgo.Msg {
	msgs := make([]natsgo.Msg, n)
	for i := range msgs {
		msgs[i] = natsgo.Msg{Subject: subject, Data: []byte("x")}
		if id != "" {
			msgs[i].Header = natsgo.Header{jetstream.MsgIDHeader: {id}}
		}
	}
	return msgs
}

var never = make(chan struct{})

func noCause() error { return nil }

// TestPublisherAcks: every message of a batch is stored and acknowledged,
// with one ack answered per position; a batch repeated with the same
// Nats-Msg-Id is acknowledged (as a duplicate) and stored once.
func TestPublisherAcks(t *testing.T) {
	nc, p := pubFixture(t, 5*time.Second)
	msgs := msgsTo("pubtest", 300, "")
	if errs := p.publish(msgs)(never, noCause); errs != nil {
		t.Fatalf("errs: %v", errs)
	}
	for range 2 {
		if errs := p.publish(msgsTo("pubtest", 1, "same-id"))(never, noCause); errs != nil {
			t.Fatalf("errs: %v", errs)
		}
	}
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), "pubtest")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 301 {
		t.Fatalf("stream holds %d messages, want 301", n)
	}
	if len(p.batches) != 0 {
		t.Fatalf("%d batches left awaiting acks", len(p.batches))
	}
}

// TestPublisherFailures: a subject no stream captures fails with
// ErrNoStreamResponse, a stream's refusal fails with its API error, a
// publish nobody answers times out, and a cancelled wait fails with its
// cause; none of them stays awaiting acks.
func TestPublisherFailures(t *testing.T) {
	nc, p := pubFixture(t, 300*time.Millisecond)

	errs := p.publish(msgsTo("nostream", 2, ""))(never, noCause)
	if len(errs) != 2 || !errors.Is(errs[0], jetstream.ErrNoStreamResponse) || !errors.Is(errs[1], jetstream.ErrNoStreamResponse) {
		t.Fatalf("no stream: %v", errs)
	}

	refused := msgsTo("pubtest", 1, "")
	refused[0].Header = natsgo.Header{jetstream.ExpectedLastSeqHeader: {"999"}}
	errs = p.publish(refused)(never, noCause)
	var api *jetstream.APIError
	if len(errs) != 1 || !errors.As(errs[0], &api) || api.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("refused: %v", errs)
	}

	// A plain subscriber is a responder that never answers like a stream.
	sub, err := nc.SubscribeSync("silent")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	start := time.Now()
	errs = p.publish(msgsTo("silent", 3, ""))(never, noCause)
	if len(errs) != 3 || !errors.Is(errs[2], errPubTimeout) {
		t.Fatalf("silent: %v", errs)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("timed out after %v, want about 300ms", d)
	}

	stop := make(chan struct{})
	wait := p.publish(msgsTo("silent", 1, ""))
	close(stop)
	if errs := wait(stop, func() error { return context.Canceled }); len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("cancelled: %v", errs)
	}
	if len(p.batches) != 0 {
		t.Fatalf("%d batches left awaiting acks", len(p.batches))
	}
}

// TestPublisherConnectionLost: what awaits acks when the connection is
// lost (reconnecting) or closed fails at once, not after the timeout, and a
// closed publisher refuses.
func TestPublisherConnectionLost(t *testing.T) {
	nc, p, srv := pubServer(t, time.Minute)
	sub, err := nc.SubscribeSync("silent")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	endsWith := func(wait func(<-chan struct{}, func() error) []error, want error) {
		t.Helper()
		done := make(chan []error, 1)
		go func() { done <- wait(never, noCause) }()
		select {
		case errs := <-done:
			if len(errs) != 2 || !errors.Is(errs[0], want) || !errors.Is(errs[1], want) {
				t.Fatalf("got %v, want %v", errs, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the wait did not end with %v", want)
		}
	}
	wait := p.publish(msgsTo("silent", 2, ""))
	_ = srv.Close()
	endsWith(wait, errPubLost)
	wait = p.publish(msgsTo("silent", 2, "")) // buffered while reconnecting
	nc.Close()
	endsWith(wait, natsgo.ErrConnectionClosed)
	p.close()
	if errs := p.publish(msgsTo("pubtest", 1, ""))(never, noCause); len(errs) != 1 || !errors.Is(errs[0], errPubClosed) {
		t.Fatalf("closed: %v", errs)
	}
}

// TestAckError reads acknowledgements without decoding the ordinary ones.
func TestAckError(t *testing.T) {
	for _, c := range []struct {
		data string
		hdr  natsgo.Header
		want error
	}{
		{`{"stream":"orders","seq":12}`, nil, nil},
		{`{"stream":"or\"error\"s","seq":12,"duplicate":true}`, nil, nil},
		{`{"stream":"orders","error":{"code":400,"err_code":10071,"description":"wrong last sequence"}}`, nil,
			&jetstream.APIError{ErrorCode: 10071}},
		{`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`, nil,
			&jetstream.APIError{ErrorCode: 10077}},
		{``, natsgo.Header{"Status": {"503"}}, jetstream.ErrNoStreamResponse},
		{``, nil, jetstream.ErrInvalidJSAck},
		{`nonsense`, nil, jetstream.ErrInvalidJSAck},
		{`{"error":`, nil, jetstream.ErrInvalidJSAck},
	} {
		got := ackError(&natsgo.Msg{Data: []byte(c.data), Header: c.hdr})
		if (got == nil) != (c.want == nil) || (got != nil && !errors.Is(got, c.want)) {
			t.Errorf("ackError(%q) = %v, want %v", c.data, got, c.want)
		}
	}
}
