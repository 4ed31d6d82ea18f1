package lambda_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/swarm-go/swarm/broker/lambda/runtimeapi"
)

// function starts an example function against a local Runtime API.
func function(t *testing.T, name string) *runtimeapi.Server {
	t.Helper()
	s := runtimeapi.New()
	t.Cleanup(s.Close)
	s.Function(t, "../../examples/lambda/"+name)
	return s
}

func invoke(t *testing.T, s *runtimeapi.Server, event string, timeout time.Duration) runtimeapi.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	res, err := s.Invoke(ctx, []byte(event), timeout)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func eventBridgeEvent(id, detailType, detail string) string {
	return fmt.Sprintf(`{
  "version": "0",
  "id": %q,
  "detail-type": %q,
  "source": "com.example.shop",
  "account": "123456789012",
  "time": "2026-11-22T08:00:00Z",
  "region": "eu-west-1",
  "resources": [],
  "detail": %s
}`, id, detailType, detail)
}

func TestEventBridgeFunction(t *testing.T) {
	s := function(t, "eventbridge")
	cases := []struct {
		name, detailType, detail string
		timeout                  time.Duration
		fails                    string
	}{
		{"order acked", "Order", `{"id":"o-1","amount":12.5}`, 10 * time.Second, ""},
		{"refund on its own listener", "Refund", `{"id":"r-1","order":"o-1"}`, 10 * time.Second, ""},
		{"order failed fails the invocation", "Order", `{"id":"o-2","amount":-1}`, 10 * time.Second, "not acked"},
		{"unknown detail type", "Invoice", `{"id":"i-1"}`, 10 * time.Second, "not acked"},
		{"deadline", "Order", `{"id":"o-3","amount":1,"slow":true}`, 2 * time.Second, "not acked"},
		{"next invocation after a deadline", "Order", `{"id":"o-4","amount":2}`, 10 * time.Second, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			res := invoke(t, s, eventBridgeEvent(fmt.Sprintf("ev-%d", i), c.detailType, c.detail), c.timeout)
			if c.fails == "" && res.Failed {
				t.Fatalf("invocation failed: %s", res.ErrorMsg)
			}
			if c.fails != "" && (!res.Failed || !strings.Contains(res.ErrorMsg, c.fails)) {
				t.Fatalf("result %+v, want an error containing %q", res, c.fails)
			}
			if d := time.Since(start); d > c.timeout {
				t.Errorf("answered after %v, past the %v deadline", d, c.timeout)
			}
		})
	}
}

func dynamoRecord(seq, name, id string, balance int) string {
	image := fmt.Sprintf(`{"id":{"S":%q},"owner":{"S":"ada"},"balance":{"N":"%d"},"tags":{"SS":["a","b"]},"meta":{"M":{"v":{"N":"2"}}}}`, id, balance)
	return fmt.Sprintf(`{
  "eventID": "evt-%s",
  "eventName": %q,
  "eventVersion": "1.1",
  "eventSource": "aws:dynamodb",
  "awsRegion": "eu-west-1",
  "dynamodb": {
    "ApproximateCreationDateTime": 1795334400,
    "Keys": {"id": {"S": %q}},
    "NewImage": %s,
    "SequenceNumber": %q,
    "SizeBytes": 59,
    "StreamViewType": "NEW_AND_OLD_IMAGES"
  },
  "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/accounts/stream/2026-11-22T00:00:00.000"
}`, seq, name, id, image, seq)
}

func TestDynamoDBFunction(t *testing.T) {
	s := function(t, "dynamodb")
	event := `{"Records": [` + strings.Join([]string{
		dynamoRecord("100", "INSERT", "a-1", 10),
		dynamoRecord("101", "MODIFY", "a-2", -5),
		dynamoRecord("102", "MODIFY", "a-3", 7),
		dynamoRecord("103", "INSERT", "a-4", -1),
	}, ",") + `]}`
	got := batchItemFailures(t, invoke(t, s, event, 10*time.Second))
	if strings.Join(got, ",") != "101,103" {
		t.Fatalf("batch item failures %v, want the sequence numbers 101 and 103", got)
	}
}

func s3Event(keys ...string) string {
	var records []string
	for i, k := range keys {
		records = append(records, fmt.Sprintf(`{
  "eventVersion": "2.1",
  "eventSource": "aws:s3",
  "awsRegion": "eu-west-1",
  "eventTime": "2026-11-22T08:00:00.000Z",
  "eventName": "ObjectCreated:Put",
  "s3": {
    "s3SchemaVersion": "1.0",
    "configurationId": "uploads",
    "bucket": {"name": "swarm-uploads", "arn": "arn:aws:s3:::swarm-uploads"},
    "object": {"key": %q, "size": %d, "eTag": "0123456789abcdef", "sequencer": "00A1B2C3D4E5F6%02d"}
  }
}`, k, 1024*(i+1), i))
	}
	return `{"Records": [` + strings.Join(records, ",") + `]}`
}

func TestS3Function(t *testing.T) {
	s := function(t, "s3")
	if res := invoke(t, s, s3Event("photos/1.jpg", "photos/2.jpg"), 10*time.Second); res.Failed {
		t.Fatalf("invocation failed: %s", res.ErrorMsg)
	}
	res := invoke(t, s, s3Event("photos/3.jpg", "reject/4.jpg"), 10*time.Second)
	if !res.Failed || !strings.Contains(res.ErrorMsg, "reject/4.jpg") {
		t.Fatalf("result %+v, want the invocation failed naming reject/4.jpg", res)
	}
}
