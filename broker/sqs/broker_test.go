package sqs

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/sqs/sqstest"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/kernel"
	"github.com/swarm-go/swarm/listen"
)

type note struct {
	Seq int `json:"seq"`
}

func open(t *testing.T, em *sqstest.Emulator, name string, opts ...Option) *Broker {
	t.Helper()
	b, err := New(name, append([]Option{WithEndpoint(em.Endpoint), WithRegion(sqstest.Region),
		WithCredentials(sqstest.Credentials()), WithWaitTime(0),
		WithKernel(swarm.WithPollFrequency(20 * time.Millisecond))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func take[T any](t *testing.T, deq <-chan swarm.Msg[T]) swarm.Msg[T] {
	t.Helper()
	select {
	case m := <-deq:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		panic("unreachable")
	}
}

func TestOptionErrors(t *testing.T) {
	for _, c := range []struct {
		target string
		opts   []Option
		want   string
	}{
		{"bad name!", nil, "not a valid queue name"},
		{"https://user:s3cret@sqs.us-east-1.amazonaws.com/1/q", nil, "not a queue URL"},
		{"q", []Option{WithReceivers(0)}, "receivers"},
		{"q", []Option{WithSendConcurrency(65)}, "send concurrency"},
		{"q", []Option{WithWaitTime(21 * time.Second)}, "wait time"},
		{"q", []Option{WithRequestTimeout(0)}, "request timeout"},
		{"q", []Option{WithMaxPayload(2 << 20)}, "max payload"},
		{"q", []Option{WithDeadLetterQueue("q")}, "itself"},
		{"q", []Option{WithDeadLetterQueue("bad name")}, "dead-letter"},
		{"q", []Option{WithEndpoint("http://user:s3cret@127.0.0.1:1")}, "endpoint"},
		{"q", []Option{WithEndpoint("ftp://127.0.0.1")}, "endpoint"},
		{"q", []Option{WithKernel(swarm.WithAckCapacity(0))}, "ack capacity"},
	} {
		_, err := New(c.target, c.opts...)
		if !errors.Is(err, swarm.ErrConfig) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q) = %v, want ErrConfig about %s", c.target, err, c.want)
		}
	}
	for _, raw := range []string{"sqs://key:s3cret@127.0.0.1:1/q", "sqs://127.0.0.1:1/q?tls=maybe", "mem://q"} {
		u, _ := url.Parse(raw)
		if _, err := Open(u); !errors.Is(err, swarm.ErrConfig) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%s) = %v, want ErrConfig without the secret", u.Redacted(), err)
		}
	}
}

func TestOpenURLAndCreate(t *testing.T) {
	em := sqstest.Start(t)
	host := strings.TrimPrefix(em.Endpoint, "http://")
	q, err := swarm.Open("sqs://" + host + "/by-url")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	b := q.(*Broker)
	if !strings.HasSuffix(b.QueueURL(), "/by-url") || !strings.Contains(b.Kernel().Queue(), "sqs://"+host+"/by-url") {
		t.Errorf("queue URL %q, kernel queue %q", b.QueueURL(), b.Kernel().Queue())
	}
	// The queue URL works as a target too.
	same := open(t, em, b.QueueURL())
	if same.QueueURL() != b.QueueURL() {
		t.Errorf("opened by URL: %q", same.QueueURL())
	}
	_, err = New("missing", WithEndpoint(em.Endpoint), WithCreateQueues(false))
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing queue without create: %v", err)
	}
}

// TestPartialSend: one entry of a batch that SQS refuses fails alone, as
// a permanent too-large error on the dead-letter channel; the others arrive.
func TestPartialSend(t *testing.T) {
	em := sqstest.Start(t)
	b := open(t, em, "partial")
	// Shrink the queue's limit behind the broker's back, so the refusal
	// comes from SQS, entry by entry.
	_, err := b.Client().SetQueueAttributes(context.Background(), &sqs.SetQueueAttributesInput{
		QueueUrl:   aws.String(b.QueueURL()),
		Attributes: map[string]string{string(types.QueueAttributeNameMaximumMessageSize): "1024"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := b.Kernel().Emitter("blob", "[]byte:blob", false)
	if err != nil {
		t.Fatal(err)
	}
	batch := []kernel.Envelope{e.Envelope([]byte("a")), e.Envelope(bytes.Repeat([]byte("b"), 2000)), e.Envelope([]byte("c"))}
	errs := b.d.Send(context.Background(), batch)
	if errs == nil || errs[0] != nil || errs[2] != nil || !kernel.IsPermanent(errs[1]) || !errors.Is(errs[1], kernel.ErrTooLarge) {
		t.Fatalf("errors %v: want only the second, permanent and too large", errs)
	}
	deq, ack := listen.Bytes(b, swarm.NewCodecBytes("blob"))
	got := map[string]bool{}
	for range 2 {
		m := take(t, deq)
		got[string(m.Object)] = true
		ack <- m
	}
	if !got["a"] || !got["c"] {
		t.Errorf("received %v", got)
	}
}

// TestPartialSettle: a batch settlement with one bad receipt handle settles
// the others and names the failure.
func TestPartialSettle(t *testing.T) {
	em := sqstest.Start(t)
	b := open(t, em, "settle")
	enq, _ := emit.Typed[note](b)
	enq <- note{Seq: 1}
	var msg *types.Message
	for msg == nil {
		envs, err := b.d.Receive(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(envs) > 0 {
			msg = envs[0].Handle.(*types.Message)
		}
	}
	bad := &types.Message{ReceiptHandle: aws.String("not-a-receipt")}
	err := b.d.Nack(context.Background(), []any{msg, bad}, 0)
	if err == nil || !strings.Contains(err.Error(), "1 of 2") {
		t.Fatalf("Nack = %v, want 1 of 2 failed", err)
	}
	envs, err := b.d.Receive(context.Background(), 10)
	if err != nil || len(envs) != 1 || envs[0].Attempt != 2 {
		t.Fatalf("after the partial nack: %v %+v", err, envs)
	}
	if err := b.d.Ack(context.Background(), []any{envs[0].Handle}); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Ack(context.Background(), []any{"foreign"}); err == nil {
		t.Error("a foreign handle was accepted")
	}
}

// TestRedriveDeadLetter: dead letters go to the queue the RedrivePolicy
// names, with their category and attributes.
func TestRedriveDeadLetter(t *testing.T) {
	em := sqstest.Start(t)
	dead := open(t, em, "custom-dead")
	arn, err := dead.Client().GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(dead.QueueURL()), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dead.Client().CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName: aws.String("redriven"),
		Attributes: map[string]string{string(types.QueueAttributeNameRedrivePolicy): `{"deadLetterTargetArn":"` +
			arn.Attributes[string(types.QueueAttributeNameQueueArn)] + `","maxReceiveCount":"100"}`},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := open(t, em, "redriven", WithKernel(swarm.WithRedelivery(swarm.ConstantBackoff(10*time.Millisecond, 2))))
	if b.d.dlqName != "custom-dead" {
		t.Fatalf("dead-letter queue %q, want custom-dead", b.d.dlqName)
	}
	enq, _ := emit.Typed[note](b)
	deq, ack := listen.Typed[note](b)
	enq <- note{Seq: 7}
	for range 2 {
		ack <- take(t, deq).Fail(errors.New("no"))
	}
	deqDead, ackDead := listen.Typed[note](dead)
	m := take(t, deqDead)
	ackDead <- m
	if m.Object.Seq != 7 || m.Category() != "note" {
		t.Errorf("dead letter %+v category %q", m.Object, m.Category())
	}
}

// TestFIFOGroups: with a group key, FIFO consumers share a category.
func TestFIFOGroups(t *testing.T) {
	em := sqstest.Start(t)
	b := open(t, em, "grouped.fifo", WithMessageGroupAttr("customer"))
	if c := b.Kernel().Capabilities(); !c.Ordered || !c.Partitioned || c.SendConcurrency != 1 {
		t.Fatalf("capabilities %+v", c)
	}
	e, err := b.Kernel().Emitter("note", "note", false)
	if err != nil {
		t.Fatal(err)
	}
	var batch []kernel.Envelope
	for i := range 6 {
		env := e.Envelope([]byte(`{"seq":` + string(rune('0'+i)) + `}`))
		env.Attrs = map[string]string{"customer": string(rune('a' + i%2))}
		batch = append(batch, env)
	}
	if errs := e.Send(context.Background(), batch); errs != nil {
		t.Fatal(errs)
	}
	// Two groups: one receive call takes the head of each.
	envs, err := b.d.Receive(context.Background(), 10)
	if err != nil || len(envs) < 2 {
		t.Fatalf("one receive got %d messages (%v), want the heads of both groups", len(envs), err)
	}
	seen := map[string]bool{}
	for _, env := range envs {
		seen[env.Attrs["customer"]] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("groups received: %v", seen)
	}
}
