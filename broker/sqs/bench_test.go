package sqs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/sqs"
	"github.com/swarm-go/swarm/broker/sqs/sqstest"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// benchNote is the message of the benchmark: about 100 bytes of JSON.
type benchNote struct {
	Seq  int    `json:"seq"`
	Text string `json:"text"`
}

var benchText = strings.Repeat("x", 80)

// Concurrency of both sides: the broker's defaults.
const (
	benchSenders   = 8 // sqs.WithSendConcurrency default
	benchReceivers = 4 // sqs.WithReceivers default
	benchDeletes   = 8 // DeleteMessageBatch calls in flight on the raw side
)

// BenchmarkVersusRaw sends b.N messages to a standard queue and receives and
// deletes them, with swarm (typed channels) and with the raw aws-sdk-go-v2
// client doing the same work the best way it can (SendMessageBatch of 10 from
// concurrent workers; ReceiveMessage of 10 + DeleteMessageBatch from
// concurrent workers), on one emulator in the same run. Each side runs
// three times, alternating, and keeps its best round. Run it with a fixed count:
//
//	go test -run '^$' -bench VersusRaw -benchtime 20000x .
func BenchmarkVersusRaw(b *testing.B) {
	em := sqstest.Start(b)
	n := b.N
	var best [4]float64 // raw send, swarm send, raw receive, swarm receive
	b.ResetTimer()
	for round := range 3 {
		for side := range 2 {
			name := fmt.Sprintf("bench-%d-%d-%d", n, round, side)
			q, err := sqs.New(name, emulatorOpts(em, sqs.WithWaitTime(5*time.Second))...)
			if err != nil {
				b.Fatal(err)
			}
			url := q.QueueURL()
			var send, recv float64
			if side == 0 {
				// The raw side uses the SDK client as the broker builds it
				// (default configuration, 64 idle connections per host).
				client := q.Client()
				send = rate(n, func() { rawSend(b, client, url, n) })
				recv = rate(n, func() { rawReceive(b, client, url, n) })
			} else {
				send = rate(n, func() { swarmSend(b, em, name, n) })
				var closeQ func()
				recv = rate(n, func() { closeQ = swarmReceive(b, em, name, n) })
				closeQ() // waits out the long polls in flight: not part of the work
			}
			_ = q.Close()
			best[side] = max(best[side], send)
			best[2+side] = max(best[2+side], recv)
		}
	}
	b.StopTimer()
	b.ReportMetric(best[0], "raw-send-msgs/s")
	b.ReportMetric(best[1], "swarm-send-msgs/s")
	b.ReportMetric(best[1]/best[0], "send-ratio")
	b.ReportMetric(best[2], "raw-recv-msgs/s")
	b.ReportMetric(best[3], "swarm-recv-msgs/s")
	b.ReportMetric(best[3]/best[2], "recv-ratio")
}

func rate(n int, f func()) float64 {
	start := time.Now()
	f()
	return float64(n) / time.Since(start).Seconds()
}

// rawSend sends n messages as swarm would carry them (JSON body, category
// and id attributes) in batches of 10 from concurrent workers.
func rawSend(b *testing.B, c *awssqs.Client, url string, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := int(next.Add(10)) - 10
				if start >= n {
					return
				}
				entries := make([]types.SendMessageBatchRequestEntry, 0, 10)
				for i := start; i < min(start+10, n); i++ {
					body, _ := json.Marshal(benchNote{Seq: i, Text: benchText})
					entries = append(entries, types.SendMessageBatchRequestEntry{
						Id:          aws.String(strconv.Itoa(i - start)),
						MessageBody: aws.String(string(body)),
						MessageAttributes: map[string]types.MessageAttributeValue{
							sqs.CategoryAttr: {DataType: aws.String("String"), StringValue: aws.String("benchNote")},
							sqs.IDAttr:       {DataType: aws.String("String"), StringValue: aws.String("raw-" + strconv.Itoa(i))},
						},
					})
				}
				out, err := c.SendMessageBatch(context.Background(), &awssqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
				if err != nil || len(out.Failed) > 0 {
					b.Errorf("raw send: %v %v", err, out)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// rawReceive receives and deletes n messages: concurrent receive loops,
// each handing its DeleteMessageBatch to a goroutine (at most
// benchDeletes at once) so that receiving never waits for a delete, and
// decodes each body as the typed listener does.
func rawReceive(b *testing.B, c *awssqs.Client, url string, n int) {
	var got atomic.Int64
	var wg, deletes sync.WaitGroup
	sem := make(chan struct{}, benchDeletes)
	// Once all arrived, the polls still waiting on the empty queue are
	// cut short: the work is done.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range benchReceivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for got.Load() < int64(n) {
				out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
					QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 5, VisibilityTimeout: 30,
					MessageAttributeNames:       []string{"All"},
					MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
				})
				if err != nil {
					if ctx.Err() == nil {
						b.Errorf("raw receive: %v", err)
					}
					return
				}
				if len(out.Messages) == 0 {
					continue
				}
				if got.Add(int64(len(out.Messages))) >= int64(n) {
					cancel()
				}
				entries := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
				for i, m := range out.Messages {
					var v benchNote
					if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &v); err != nil {
						b.Errorf("raw decode: %v", err)
					}
					entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
				}
				sem <- struct{}{}
				deletes.Add(1)
				go func() {
					defer func() { <-sem; deletes.Done() }()
					in := &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}
					if out, err := c.DeleteMessageBatch(context.Background(), in); err != nil || len(out.Failed) > 0 {
						b.Errorf("raw delete: %v", err)
					}
				}()
			}
		}()
	}
	wg.Wait()
	deletes.Wait()
	drained(b, c, url)
}

func swarmSend(b *testing.B, em *sqstest.Emulator, name string, n int) {
	q, err := sqs.New(name, emulatorOpts(em, sqs.WithKernel(swarm.WithEmitCapacity(1024)))...)
	if err != nil {
		b.Fatal(err)
	}
	enq, dlq := emit.Typed[benchNote](q)
	for i := range n {
		enq <- benchNote{Seq: i, Text: benchText}
	}
	if err := q.Close(); err != nil { // flushes
		b.Fatal(err)
	}
	for v := range dlq {
		b.Errorf("dead letter %d", v.Seq)
	}
}

// swarmReceive takes n messages from the typed channel and acks each; it
// ends when all are deleted (the queue is empty), as rawReceive does, and
// returns the broker's Close.
func swarmReceive(b *testing.B, em *sqstest.Emulator, name string, n int) func() {
	q, err := sqs.New(name, emulatorOpts(em, sqs.WithWaitTime(5*time.Second))...)
	if err != nil {
		b.Fatal(err)
	}
	deq, ack := listen.Typed[benchNote](q)
	for range n {
		ack <- <-deq
	}
	drained(b, q.Client(), q.QueueURL())
	return func() { _ = q.Close() }
}

// drained waits until the queue holds no message, visible or not.
func drained(b *testing.B, c *awssqs.Client, url string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		out, err := c.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
				types.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
		})
		if err != nil {
			b.Fatal(err)
		}
		if out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)] == "0" &&
			out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] == "0" {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.Fatal("the queue did not drain within a minute")
}
