package lambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/swarm-go/swarm/broker/kinesis/kinesiswire"
	"github.com/swarm-go/swarm/broker/lambda/runtimeapi"
	"github.com/swarm-go/swarm/broker/sqs/sqstest"
	"github.com/swarm-go/swarm/kernel"
)

// batchItemFailures returns the item identifiers of a partial batch
// response, in its order.
func batchItemFailures(t *testing.T, res runtimeapi.Result) []string {
	t.Helper()
	if res.Failed {
		t.Fatalf("invocation failed: %s", res.ErrorMsg)
	}
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(res.Body, &resp); err != nil {
		t.Fatalf("response %s: %v", res.Body, err)
	}
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	return got
}

// sqsRecord is a record of an SQS event as Lambda sends it, with String
// message attributes.
func sqsRecord(id, body string, receiveCount int, attrs map[string]string) string {
	var ma []string
	for k, v := range attrs {
		ma = append(ma, fmt.Sprintf(`%q: {"stringValue": %q, "stringListValues": [], "binaryListValues": [], "dataType": "String"}`, k, v))
	}
	return fmt.Sprintf(`{
  "messageId": %q,
  "receiptHandle": "AQEB%s",
  "body": %q,
  "attributes": {
    "ApproximateReceiveCount": "%d",
    "SentTimestamp": "1795334400000",
    "SenderId": "AROAIWPX5BD2BHG722MW4:sender",
    "ApproximateFirstReceiveTimestamp": "1795334400100"
  },
  "messageAttributes": {%s},
  "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
  "eventSource": "aws:sqs",
  "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:orders",
  "awsRegion": "eu-west-1"
}`, id, id, body, receiveCount, strings.Join(ma, ", "))
}

// swarmRecord is a message as swarm's SQS emitter sends it.
func swarmRecord(id, category, body string) string {
	return sqsRecord(id, body, 1, map[string]string{"swarm-category": category, "swarm-id": "swarm-" + id})
}

// snsEnvelope is the body SNS delivers to a subscribed queue without raw
// message delivery, carrying the attributes swarm's SNS emitter sets.
func snsEnvelope(category, message string) string {
	b, _ := json.Marshal(map[string]any{
		"Type":             "Notification",
		"MessageId":        "sns-" + category,
		"TopicArn":         "arn:aws:sns:eu-west-1:123456789012:shop",
		"Message":          message,
		"Timestamp":        "2026-11-22T08:00:00.000Z",
		"SignatureVersion": "1",
		"Signature":        "EXAMPLE",
		"SigningCertURL":   "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem",
		"UnsubscribeURL":   "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
		"MessageAttributes": map[string]any{
			"swarm-category": map[string]string{"Type": "String", "Value": category},
			"swarm-id":       map[string]string{"Type": "String", "Value": "e-" + category},
		},
	})
	return string(b)
}

// fifo makes record come from a FIFO queue.
func fifo(record string) string {
	record = strings.Replace(record, `:orders"`, `:orders.fifo"`, 1)
	return strings.Replace(record, `"ApproximateReceiveCount"`, `"MessageGroupId": "g-1", "SequenceNumber": "18849496460467696128", "MessageDeduplicationId": "d", "ApproximateReceiveCount"`, 1)
}

func sqsEvent(records ...string) string {
	return `{"Records": [` + strings.Join(records, ",") + `]}`
}

func TestSQSFunction(t *testing.T) {
	s := function(t, "sqs")
	cases := []struct {
		name    string
		records []string
		timeout time.Duration
		want    []string // the batch item failures
		minWait time.Duration
		maxWait time.Duration // 5s when zero
	}{{
		name: "partial failures: only the failed and the unsettled are reported",
		records: []string{
			swarmRecord("m-1", "Order", `{"id":"o-1","amount":10}`),
			swarmRecord("m-2", "Order", `{"id":"o-2","amount":-1}`),
			swarmRecord("m-3", "Order", `{"id":"o-3","amount":3,"slow":true}`),
			swarmRecord("m-4", "Refund", `{"id":"r-4","order":"o-0"}`),
			swarmRecord("m-5", "Order", `{"id":"o-5","amount":5}`),
		},
		timeout: 3 * time.Second, want: []string{"m-2", "m-3"}, minWait: 2 * time.Second,
	}, {
		name:    "deadline: the unsettled are failures when the deadline is near",
		records: []string{swarmRecord("m-6", "Order", `{"id":"o-6","amount":1,"slow":true}`), swarmRecord("m-7", "Refund", `{"id":"r-7","order":"o-6"}`)},
		timeout: 2 * time.Second, want: []string{"m-6"}, minWait: time.Second,
	}, {
		name:    "a settled batch answers at once",
		records: []string{swarmRecord("m-8", "Order", `{"id":"o-8","amount":8}`), swarmRecord("m-9", "Refund", `{"id":"r-9","order":"o-8"}`)},
		timeout: 20 * time.Second,
	}, {
		name: "two listeners at once: the order waits for the refund behind it",
		records: []string{
			swarmRecord("m-10", "Order", `{"id":"o-10","amount":1,"awaitRefund":true}`),
			swarmRecord("m-11", "Refund", `{"id":"r-11","order":"o-10"}`),
		},
		timeout: 20 * time.Second,
	}, {
		name: "SNS deliveries, enveloped and raw; failures by SQS message id",
		records: []string{
			sqsRecord("m-12", snsEnvelope("Order", `{"id":"o-12","amount":12}`), 1, nil),
			sqsRecord("m-13", snsEnvelope("Order", `{"id":"o-13","amount":-13}`), 1, nil),
			sqsRecord("m-14", `{"id":"r-14","order":"o-12"}`, 1, map[string]string{"swarm-category": "Refund"}),
			sqsRecord("m-15", `{"id":"o-15","amount":15}`, 1, nil), // no category
		},
		timeout: 20 * time.Second, want: []string{"m-13", "m-15"},
	}, {
		// Attempt 4 has a redelivery backoff of 800ms: the source applies
		// its own, so the failure is reported without waiting it out.
		name:    "a failure is reported at once, whatever its attempt",
		records: []string{sqsRecord("m-19", `{"id":"o-19","amount":-19}`, 4, map[string]string{"swarm-category": "Order"})},
		timeout: 20 * time.Second, want: []string{"m-19"}, maxWait: 600 * time.Millisecond,
	}, {
		name: "FIFO: the first failure and everything after it",
		records: []string{
			fifo(swarmRecord("m-16", "Order", `{"id":"o-16","amount":16}`)),
			fifo(swarmRecord("m-17", "Order", `{"id":"o-17","amount":-17}`)),
			fifo(swarmRecord("m-18", "Order", `{"id":"o-18","amount":18}`)),
		},
		timeout: 20 * time.Second, want: []string{"m-17", "m-18"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			got := batchItemFailures(t, invoke(t, s, sqsEvent(c.records...), c.timeout))
			took := time.Since(start)
			if !slices.Equal(got, c.want) {
				t.Errorf("batch item failures %v, want %v", got, c.want)
			}
			if took > c.timeout {
				t.Errorf("answered after %v, past the %v deadline", took, c.timeout)
			}
			if took < c.minWait {
				t.Errorf("answered after %v, before waiting for the unsettled (%v)", took, c.minWait)
			}
			if c.maxWait == 0 {
				c.maxWait = 5 * time.Second
			}
			if c.minWait == 0 && took > c.maxWait {
				t.Errorf("answered after %v, want at most %v", took, c.maxWait)
			}
		})
	}
}

// The shipments emitted while handling are in the queue as soon as the
// invocation returned. The function reaches SQS through a proxy that holds
// every call for 300ms, as a slow network would, so a handler that returned
// without waiting for its emits would answer before they arrive.
func TestSQSEmitThenReturn(t *testing.T) {
	em := sqstest.Start(t)
	target, err := url.Parse(em.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		forward.ServeHTTP(w, r)
	}))
	defer slow.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := awssqs.New(awssqs.Options{Region: sqstest.Region, Credentials: sqstest.Credentials(),
		BaseEndpoint: aws.String(em.Endpoint)})
	created, err := client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("shipments")})
	if err != nil {
		t.Fatal(err)
	}
	s := runtimeapi.New()
	defer s.Close()
	s.Function(t, "../../examples/lambda/sqs",
		"SHIPMENTS_QUEUE=sqs://"+strings.TrimPrefix(slow.URL, "http://")+"/shipments")

	for round := range 3 {
		var records, want []string
		for i := range 8 {
			id := fmt.Sprintf("o-%d-%d", round, i)
			records = append(records, sqsRecord("m-"+id, fmt.Sprintf(`{"id":%q,"amount":%d}`, id, i+1), 1+i%3,
				map[string]string{"swarm-category": "Order"}))
			want = append(want, fmt.Sprintf("%s@%d", id, 1+i%3))
		}
		records = append(records, swarmRecord("m-bad", "Order", `{"id":"bad","amount":-1}`))
		if got := batchItemFailures(t, invoke(t, s, sqsEvent(records...), 20*time.Second)); !slices.Equal(got, []string{"m-bad"}) {
			t.Fatalf("batch item failures %v, want only m-bad", got)
		}
		got := drain(ctx, t, client, aws.ToString(created.QueueUrl))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: in the queue when the invocation returned: %v, want %v", round, got, want)
		}
	}
}

// drain takes every message of the queue, as "order@attempt" of their
// Shipment body, deleting them.
func drain(ctx context.Context, t *testing.T, c *awssqs.Client, url string) []string {
	t.Helper()
	var got []string
	for {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url),
			MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, VisibilityTimeout: 60})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return got
		}
		var del []types.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			var sh struct {
				Order   string `json:"order"`
				Attempt int    `json:"attempt"`
			}
			if cat := m.MessageAttributes["swarm-category"]; aws.ToString(cat.StringValue) != "Shipment" {
				t.Errorf("message of category %q", aws.ToString(cat.StringValue))
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &sh); err != nil {
				t.Fatalf("shipment %q: %v", aws.ToString(m.Body), err)
			}
			got = append(got, fmt.Sprintf("%s@%d", sh.Order, sh.Attempt))
			del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if _, err := c.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del}); err != nil {
			t.Fatal(err)
		}
	}
}

// kinesisRecord is a record of a Kinesis event as Lambda sends it.
func kinesisRecord(seq, key string, data []byte) string {
	return fmt.Sprintf(`{
  "kinesis": {
    "kinesisSchemaVersion": "1.0",
    "partitionKey": %q,
    "sequenceNumber": %q,
    "data": %q,
    "approximateArrivalTimestamp": 1795334400.477
  },
  "eventSource": "aws:kinesis",
  "eventVersion": "1.0",
  "eventID": "shardId-000000000000:%s",
  "eventName": "aws:kinesis:record",
  "invokeIdentityArn": "arn:aws:iam::123456789012:role/LambdaRole",
  "awsRegion": "eu-west-1",
  "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/telemetry"
}`, key, seq, base64.StdEncoding.EncodeToString(data), seq)
}

func framed(category, payload string) []byte {
	return kinesiswire.Frame(&kernel.Envelope{Category: category, ID: "e-" + category, Payload: []byte(payload)}, 0)
}

func TestKinesisFunction(t *testing.T) {
	s := function(t, "kinesis")
	event := `{"Records": [` + strings.Join([]string{
		kinesisRecord("4959000000000000000001", "s-1", framed("Reading", `{"sensor":"s-1","celsius":21.5}`)),
		kinesisRecord("4959000000000000000002", "s-2", framed("Reading", `{"sensor":"s-2","celsius":400}`)),
		kinesisRecord("4959000000000000000003", "d-1", []byte(`{"device":"d-1","uptime":3600}`)),
		kinesisRecord("4959000000000000000004", "d-2", []byte(`{"uptime":5}`)),
		kinesisRecord("4959000000000000000005", "x", framed("Invoice", `{}`)),
		kinesisRecord("4959000000000000000006", "s-3", framed("Reading", `{"sensor":"s-3","celsius":-4}`)),
	}, ",") + `]}`
	got := batchItemFailures(t, invoke(t, s, event, 20*time.Second))
	want := []string{"4959000000000000000002", "4959000000000000000004", "4959000000000000000005"}
	if !slices.Equal(got, want) {
		t.Fatalf("batch item failures %v, want the sequence numbers %v", got, want)
	}
}
