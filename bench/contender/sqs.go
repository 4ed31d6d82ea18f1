package contender

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/swarm-go/swarm/bench/workload"
	"github.com/swarm-go/swarm/broker/sqs"
	"github.com/swarm-go/swarm/broker/sqs/sqstest"
)

// Concurrency of the raw SQS side: the sqs broker's defaults (send
// concurrency 8, 4 receivers), and DeleteMessageBatch calls in flight.
const (
	sqsSenders   = 8
	sqsReceivers = 4
	sqsDeleters  = 8
)

// sqsWait is the long-poll wait of all three contenders: short, so that a
// Close waiting out a poll in flight does not stretch the benchmark.
const sqsWait = time.Second

func init() {
	register(func(int) Broker {
		e := &sqsEmulator{}
		return Broker{Name: "sqs", Order: 60, Raw: e.raw, Swarm: e.swarm, Watermill: e.watermill,
			Setup: e.setup, Scale: 5}
	})
}

// sqsEmulator is the fauxqs the three SQS contenders share, started by
// Setup.
type sqsEmulator struct{ endpoint string }

func (e *sqsEmulator) setup() (func(), error) {
	return startEmulator(func(t testing.TB) { e.endpoint = sqstest.Start(t).Endpoint })
}

// config is the AWS configuration that reaches the emulator, with as many
// idle connections per host as the sqs broker keeps (64), so that the
// concurrent calls reuse them.
func (e *sqsEmulator) config() aws.Config {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.MaxIdleConnsPerHost = 64 })
	return aws.Config{Region: sqstest.Region, Credentials: sqstest.Credentials(), HTTPClient: hc,
		BaseEndpoint: aws.String(e.endpoint)}
}

// raw is aws-sdk-go-v2 used the way SQS throughput is had: SendMessageBatch
// of 10 from concurrent senders; concurrent ReceiveMessage of 10, each
// batch deleted with DeleteMessageBatch by a goroutine of its own (bounded)
// so that receiving never waits for a delete. Messages carry a category and
// an id attribute, as swarm's do.
func (e *sqsEmulator) raw(queue string) (workload.Contender, error) {
	c := awssqs.NewFromConfig(e.config())
	out, err := c.CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String(queue)})
	if err != nil {
		return nil, fmt.Errorf("sqs raw: create queue %s: %w", queue, err)
	}
	return &sqsRaw{c: c, url: aws.ToString(out.QueueUrl)}, nil
}

type sqsRaw struct {
	c   *awssqs.Client
	url string
}

func (r *sqsRaw) Publish(ctx context.Context, n int, msg func(int) workload.Payload) error {
	var next atomic.Int64
	errs := make(chan error, sqsSenders)
	var wg sync.WaitGroup
	for range sqsSenders {
		wg.Go(func() {
			entries := make([]types.SendMessageBatchRequestEntry, 0, 10)
			for {
				start := int(next.Add(10)) - 10
				if start >= n {
					return
				}
				entries = entries[:0]
				for i := start; i < min(start+10, n); i++ {
					entries = append(entries, types.SendMessageBatchRequestEntry{
						Id:          aws.String(strconv.Itoa(i - start)),
						MessageBody: aws.String(string(workload.Encode(msg(i)))),
						MessageAttributes: map[string]types.MessageAttributeValue{
							sqs.CategoryAttr: {DataType: aws.String("String"), StringValue: aws.String("Payload")},
							sqs.IDAttr:       {DataType: aws.String("String"), StringValue: aws.String(strconv.Itoa(i))},
						},
					})
				}
				out, err := r.c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: &r.url, Entries: entries})
				if err == nil && len(out.Failed) > 0 {
					err = fmt.Errorf("%d of %d entries failed: %s", len(out.Failed), len(entries), aws.ToString(out.Failed[0].Message))
				}
				if err != nil {
					errs <- fmt.Errorf("sqs raw: send: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (r *sqsRaw) Consume(ctx context.Context, n int, got func(workload.Payload)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex // got is called from the receivers one at a time
	var count atomic.Int64
	var firstErr atomic.Pointer[error]
	fail := func(err error) {
		firstErr.CompareAndSwap(nil, &err)
		cancel()
	}
	sem := make(chan struct{}, sqsDeleters)
	var receivers, deletes sync.WaitGroup
	for range sqsReceivers {
		receivers.Go(func() {
			for count.Load() < int64(n) && ctx.Err() == nil {
				out, err := r.c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
					QueueUrl: &r.url, MaxNumberOfMessages: 10, WaitTimeSeconds: int32(sqsWait / time.Second),
					MessageAttributeNames: []string{"All"},
				})
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("sqs raw: receive: %w", err))
					}
					return
				}
				if len(out.Messages) == 0 {
					continue
				}
				entries := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
				mu.Lock()
				for i, m := range out.Messages {
					p, err := workload.Decode([]byte(aws.ToString(m.Body)))
					if err != nil {
						mu.Unlock()
						fail(fmt.Errorf("sqs raw: decode: %w", err))
						return
					}
					got(p)
					entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
				}
				mu.Unlock()
				sem <- struct{}{}
				deletes.Go(func() {
					defer func() { <-sem }()
					out, err := r.c.DeleteMessageBatch(context.WithoutCancel(ctx), &awssqs.DeleteMessageBatchInput{QueueUrl: &r.url, Entries: entries})
					if err == nil && len(out.Failed) > 0 {
						err = fmt.Errorf("%d of %d deletes failed", len(out.Failed), len(entries))
					}
					if err != nil {
						fail(fmt.Errorf("sqs raw: delete: %w", err))
					}
				})
				// Once all arrived, the polls still waiting are cut short.
				if count.Add(int64(len(out.Messages))) >= int64(n) {
					cancel()
				}
			}
		})
	}
	receivers.Wait()
	deletes.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	if count.Load() < int64(n) {
		return fmt.Errorf("sqs raw: received %d of %d: %w", count.Load(), n, context.Cause(ctx))
	}
	return nil
}

func (r *sqsRaw) Close() error { return nil } // the emulator goes with the run

// swarm is swarm's SQS broker with its defaults, but for the long-poll wait.
func (e *sqsEmulator) swarm(queue string) (workload.Contender, error) {
	q, err := sqs.New(queue, sqs.WithEndpoint(e.endpoint), sqs.WithRegion(sqstest.Region),
		sqs.WithCredentials(sqstest.Credentials()), sqs.WithWaitTime(sqsWait))
	if err != nil {
		return nil, err
	}
	return NewSwarm(q), nil
}

// watermill is watermill-aws's SQS publisher and subscriber pointed at the
// emulator, with their defaults (one message per SendMessage, one per
// ReceiveMessage, one DeleteMessage per ack) but for the long-poll wait.
func (e *sqsEmulator) watermill(queue string) (workload.Contender, error) {
	endpoint := func(o *awssqs.Options) { o.BaseEndpoint = aws.String(e.endpoint) }
	cfg := e.config()
	pub, err := wsqs.NewPublisher(wsqs.PublisherConfig{AWSConfig: cfg, OptFns: []func(*awssqs.Options){endpoint}},
		watermill.NopLogger{})
	if err != nil {
		return nil, err
	}
	sub, err := wsqs.NewSubscriber(wsqs.SubscriberConfig{
		AWSConfig: cfg, OptFns: []func(*awssqs.Options){endpoint},
		GenerateReceiveMessageInput: func(ctx context.Context, url wsqs.QueueURL) (*awssqs.ReceiveMessageInput, error) {
			in, err := wsqs.GenerateReceiveMessageInputDefault(ctx, url)
			if in != nil {
				in.WaitTimeSeconds = int32(sqsWait / time.Second)
			}
			return in, err
		},
	}, watermill.NopLogger{})
	if err != nil {
		_ = pub.Close()
		return nil, err
	}
	if err := sub.SubscribeInitialize(queue); err != nil {
		_ = pub.Close()
		_ = sub.Close()
		return nil, err
	}
	return &Watermill{pub: pub, sub: sub, topic: queue}, nil
}
