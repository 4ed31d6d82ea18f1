package sqs

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/swarm-go/swarm/kernel"
)

func TestBodyRoundTrip(t *testing.T) {
	for _, p := range [][]byte{
		[]byte(`{"id":"o-1"}`), []byte("tab\tnew\nline\r"), []byte("héllo ✓ 𝄞"),
		{}, {0}, {0xff, 0xfe}, []byte("\uFFFE"), []byte{0xed, 0xa0, 0x80}, // a surrogate
	} {
		body, enc := encodeBody(p)
		env := &kernel.Envelope{Category: "c", ID: "i", Payload: p}
		attrs, _, err := encodeAttrs(env, enc)
		if err != nil {
			t.Fatal(err)
		}
		got := decode(&types.Message{Body: aws.String(body), MessageAttributes: attrs}, "")
		if !bytes.Equal(got.Payload, p) || got.Category != "c" || got.ID != "i" || got.Attrs != nil {
			t.Errorf("%q (encoding %q) came back as %+v", p, enc, got)
		}
		if enc == "" && !validText([]byte(body)) {
			t.Errorf("%q sent as text", p)
		}
	}
}

func TestAttrs(t *testing.T) {
	env := &kernel.Envelope{Category: "c", ID: "i", Attrs: map[string]string{"tenant": "acme", "empty": ""}}
	attrs, size, err := encodeAttrs(env, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(attrs) != 3 || size != len("tenant")+len("String")+len("acme")+len(CategoryAttr)+6+1+len(IDAttr)+6+1 {
		t.Errorf("attrs %v size %d", attrs, size)
	}
	many := map[string]string{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"} {
		many[k] = "v"
	}
	if _, _, err := encodeAttrs(&kernel.Envelope{Category: "c", ID: "i", Attrs: many}, ""); !kernel.IsPermanent(err) {
		t.Errorf("11 attributes: %v, want a permanent error", err)
	}
	if _, _, err := encodeAttrs(&kernel.Envelope{Attrs: map[string]string{CategoryAttr: "x"}}, ""); !kernel.IsPermanent(err) {
		t.Errorf("reserved attribute: %v, want a permanent error", err)
	}
}

// snsEnvelope is what SNS delivers to a queue without raw delivery.
func snsEnvelope(t *testing.T, msg string, attrs map[string]string) string {
	a := map[string]map[string]string{}
	for k, v := range attrs {
		a[k] = map[string]string{"Type": "String", "Value": v}
	}
	b, err := json.Marshal(map[string]any{
		"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:us-east-1:000000000000:orders",
		"Message": msg, "Timestamp": "2026-01-01T00:00:00.000Z", "MessageAttributes": a,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeNotification(t *testing.T) {
	body := snsEnvelope(t, `{"id":"o-1"}`, map[string]string{CategoryAttr: "Order", IDAttr: "e-1", "tenant": "acme"})
	got := decode(&types.Message{Body: aws.String(body), MessageId: aws.String("sqs-1"),
		Attributes: map[string]string{"ApproximateReceiveCount": "3"}}, "")
	if string(got.Payload) != `{"id":"o-1"}` || got.Category != "Order" || got.ID != "e-1" ||
		got.Attrs["tenant"] != "acme" || len(got.Attrs) != 1 || got.Attempt != 3 {
		t.Errorf("decoded %+v", got)
	}

	// Without attributes: the SNS message id, the default category.
	got = decode(&types.Message{Body: aws.String(snsEnvelope(t, "hi", nil))}, "Note")
	if string(got.Payload) != "hi" || got.ID != "sns-1" || got.Category != "Note" || got.Attempt != 1 {
		t.Errorf("decoded %+v", got)
	}

	// Binary payload through the envelope.
	b, enc := encodeBody([]byte{0, 0xff})
	got = decode(&types.Message{Body: aws.String(snsEnvelope(t, b, map[string]string{EncodingAttr: enc, CategoryAttr: "blob"}))}, "")
	if !bytes.Equal(got.Payload, []byte{0, 0xff}) || got.Category != "blob" {
		t.Errorf("decoded %+v", got)
	}

	// A swarm message whose payload looks like a notification stays as it is.
	attrs, _, _ := encodeAttrs(&kernel.Envelope{Category: "raw", ID: "x"}, "")
	got = decode(&types.Message{Body: aws.String(body), MessageAttributes: attrs}, "")
	if string(got.Payload) != body || got.Category != "raw" {
		t.Errorf("a swarm message was unwrapped: %+v", got)
	}

	// Not JSON, or JSON of another kind: the body as it is.
	for _, s := range []string{`{"Type":"Notification"`, `{"Type":"Notification","Message":"x"}`, "plain"} {
		if got := decode(&types.Message{Body: aws.String(s)}, "d"); string(got.Payload) != s {
			t.Errorf("%q decoded as %q", s, got.Payload)
		}
	}
}

func TestRedriveTarget(t *testing.T) {
	for policy, want := range map[string]string{
		`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:orders-dead","maxReceiveCount":"5"}`: "orders-dead",
		`{"maxReceiveCount":5, "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:1:x.fifo"}`:                 "x.fifo",
		``:         "",
		`not json`: "",
	} {
		if got := redriveTarget(policy); got != want {
			t.Errorf("redriveTarget(%s) = %q, want %q", policy, got, want)
		}
	}
}

func TestDedupID(t *testing.T) {
	if got := dedupID("abc-1"); got != "abc-1" {
		t.Errorf("dedupID kept %q", got)
	}
	long := string(bytes.Repeat([]byte("x"), 200))
	if got := dedupID(long); len(got) != 64 || got != dedupID(long) {
		t.Errorf("long id hashed to %q", got)
	}
	if a, b := dedupID(""), dedupID(""); a == b || len(a) != 32 {
		t.Errorf("empty ids give %q and %q", a, b)
	}
}

func TestCalls(t *testing.T) {
	d := &driver{maxPayload: 100}
	got := d.calls([]int{10, 10, 90, 50, 50, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	want := [][2]int{{0, 2}, {2, 3}, {3, 5}, {5, 15}, {15, 16}}
	if len(got) != len(want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("calls = %v, want %v", got, want)
		}
	}
}
