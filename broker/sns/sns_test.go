package sns_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/sns"
	"github.com/swarm-go/swarm/broker/sqs"
	"github.com/swarm-go/swarm/broker/sqs/sqstest"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/kernel"
	"github.com/swarm-go/swarm/listen"
)

type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

type Refund struct {
	Order string `json:"order"`
}

func topic(t *testing.T, em *sqstest.Emulator, name string, more ...sns.Option) *sns.Emitter {
	t.Helper()
	e, err := sns.NewEmitter(name, append([]sns.Option{sns.WithEndpoint(em.Endpoint), sns.WithRegion(sqstest.Region),
		sns.WithCredentials(sqstest.Credentials())}, more...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func queue(t *testing.T, em *sqstest.Emulator, name string) *sqs.Broker {
	t.Helper()
	q, err := sqs.New(name, sqs.WithEndpoint(em.Endpoint), sqs.WithRegion(sqstest.Region),
		sqs.WithCredentials(sqstest.Credentials()), sqs.WithWaitTime(0),
		sqs.WithKernel(swarm.WithPollFrequency(20*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// subscribe subscribes q to e, with raw delivery or the JSON envelope, and
// an optional filter policy.
func subscribe(t *testing.T, e *sns.Emitter, q *sqs.Broker, raw bool, filter string) {
	t.Helper()
	ctx := context.Background()
	a, err := q.Client().GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.QueueURL()), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{"RawMessageDelivery": fmt.Sprint(raw)}
	if filter != "" {
		attrs["FilterPolicy"] = filter
	}
	_, err = e.Client().Subscribe(ctx, &awssns.SubscribeInput{
		TopicArn: aws.String(e.TopicArn()), Protocol: aws.String("sqs"),
		Endpoint: aws.String(a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]), Attributes: attrs,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func take[T any](t *testing.T, deq <-chan swarm.Msg[T], ack chan<- swarm.Msg[T]) swarm.Msg[T] {
	t.Helper()
	select {
	case m := <-deq:
		ack <- m
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		panic("unreachable")
	}
}

// TestThroughSQS publishes typed messages, attributes and binary payloads on
// a topic and reads them, typed and with their category, on an SQS queue
// subscribed with raw delivery and with the JSON envelope.
func TestThroughSQS(t *testing.T) {
	em := sqstest.Start(t)
	for _, raw := range []bool{true, false} {
		t.Run(fmt.Sprintf("raw=%v", raw), func(t *testing.T) {
			name := fmt.Sprintf("through-%v", raw)
			e := topic(t, em, name)
			q := queue(t, em, name+"-q")
			subscribe(t, e, q, raw, "")

			enq, _ := emit.Typed[Order](e)
			deq, ack := listen.Typed[Order](q)
			enq <- Order{ID: "o-1", Amount: 12.5}
			m := take(t, deq, ack)
			if m.Object != (Order{ID: "o-1", Amount: 12.5}) || m.Category() != "Order" || m.ID() == "" || m.Attempt() != 1 {
				t.Fatalf("got %+v category %q id %q attempt %d", m.Object, m.Category(), m.ID(), m.Attempt())
			}

			w, err := e.Kernel().Emitter("tagged", "[]byte:tagged", false)
			if err != nil {
				t.Fatal(err)
			}
			env := w.Envelope([]byte("x"))
			env.Attrs = map[string]string{"tenant": "acme"}
			if errs := w.Send(context.Background(), []kernel.Envelope{env}); errs != nil {
				t.Fatal(errs[0])
			}
			deqT, ackT := listen.Bytes(q, swarm.NewCodecBytes("tagged"))
			mt := take(t, deqT, ackT)
			if mt.Attrs()["tenant"] != "acme" || mt.ID() != env.ID || string(mt.Object) != "x" {
				t.Errorf("attrs %v id %q (sent %q) payload %q", mt.Attrs(), mt.ID(), env.ID, mt.Object)
			}

			codec := swarm.NewCodecBytes("blob")
			enqB, _ := emit.Bytes(e, codec)
			deqB, ackB := listen.Bytes(q, codec)
			blob := []byte{0, 1, 2, 0xff, 0xfe, 'a'}
			enqB <- blob
			if mb := take(t, deqB, ackB); !bytes.Equal(mb.Object, blob) {
				t.Errorf("binary payload %x, want %x", mb.Object, blob)
			}
		})
	}
}

// TestFilterPolicy routes on the category attribute.
func TestFilterPolicy(t *testing.T) {
	em := sqstest.Start(t)
	e := topic(t, em, "filtered")
	orders := queue(t, em, "filtered-orders")
	all := queue(t, em, "filtered-all")
	subscribe(t, e, orders, false, `{"swarm-category": ["Order"]}`)
	subscribe(t, e, all, true, "")

	enqO, _ := emit.Typed[Order](e)
	enqR, _ := emit.Typed[Refund](e)
	enqR <- Refund{Order: "o-1"}
	enqO <- Order{ID: "o-2"}

	deqO, ackO := listen.Typed[Order](orders)
	deqRefund, _ := listen.Typed[Refund](orders)
	if m := take(t, deqO, ackO); m.Object.ID != "o-2" {
		t.Errorf("order queue got %+v", m.Object)
	}
	select {
	case m := <-deqRefund:
		t.Errorf("the filter let a refund through: %+v", m.Object)
	case <-time.After(500 * time.Millisecond):
	}
	deqAllO, ackAllO := listen.Typed[Order](all)
	deqAllR, ackAllR := listen.Typed[Refund](all)
	take(t, deqAllO, ackAllO)
	take(t, deqAllR, ackAllR)
}

// TestFIFO keeps the order of a FIFO topic through a FIFO queue. Batches
// are of 9: fauxqs 1.9.2 takes the entries of a PublishBatch in the string
// order of their indices (member.10 before member.2), where SNS takes them
// in numeric order.
func TestFIFO(t *testing.T) {
	em := sqstest.Start(t)
	e := topic(t, em, "ordered.fifo", sns.WithBatchSize(9))
	if !e.Kernel().Capabilities().Ordered {
		t.Fatal("a FIFO topic must declare ordering")
	}
	q := queue(t, em, "ordered-q.fifo")
	subscribe(t, e, q, true, "")
	enq, _ := emit.Typed[Order](e)
	deq, ack := listen.Typed[Order](q)
	const n = 30
	for i := range n {
		enq <- Order{ID: fmt.Sprint(i)}
	}
	for i := range n {
		if m := take(t, deq, ack); m.Object.ID != fmt.Sprint(i) {
			t.Fatalf("message %d is %s: order not kept", i, m.Object.ID)
		}
	}
}

// TestOversized: a message over the SNS limit goes to the dead-letter
// channel with ErrTooLarge.
func TestOversized(t *testing.T) {
	em := sqstest.Start(t)
	errs := make(chan error, 8)
	e, err := sns.NewEmitter("big", sns.WithEndpoint(em.Endpoint), sns.WithKernel(swarm.WithStdErr(errs)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	enq, dlq := emit.Bytes(e, swarm.NewCodecBytes("big"))
	enq <- bytes.Repeat([]byte("a"), sns.MaxPayload)
	select {
	case v := <-dlq:
		if len(v) != sns.MaxPayload {
			t.Fatalf("dead letter of %d bytes", len(v))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("oversized message not dead-lettered")
	}
	if err := <-errs; !strings.Contains(err.Error(), "too large") {
		t.Errorf("reported %v", err)
	}
}

func TestOptions(t *testing.T) {
	for _, c := range []struct {
		target string
		opts   []sns.Option
		want   string
	}{
		{"bad name!", nil, "not a valid topic name"},
		{"t", []sns.Option{sns.WithSendConcurrency(0)}, "send concurrency"},
		{"t", []sns.Option{sns.WithRequestTimeout(0)}, "request timeout"},
		{"t", []sns.Option{sns.WithBatchSize(11)}, "batch size"},
		{"t", []sns.Option{sns.WithEndpoint("ftp://x")}, "endpoint"},
		{"t", []sns.Option{sns.WithEndpoint("http://user:s3cret@127.0.0.1:1")}, "endpoint"},
	} {
		_, err := sns.NewEmitter(c.target, c.opts...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("NewEmitter(%q) = %v, want an error about %s", c.target, err, c.want)
		}
	}
	u, _ := url.Parse("sns://key:s3cret@127.0.0.1:1/t")
	if _, err := sns.Open(u); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open with credentials in the URL = %v", err)
	}
}

// TestOpenURL opens a topic through swarm.Open and the sns scheme.
func TestOpenURL(t *testing.T) {
	em := sqstest.Start(t)
	host := strings.TrimPrefix(em.Endpoint, "http://")
	b, err := swarm.Open("sns://" + host + "/by-url")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.(*sns.Emitter).TopicArn(); !strings.HasSuffix(got, ":by-url") {
		t.Errorf("topic ARN %q", got)
	}
}
