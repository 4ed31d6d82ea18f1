package sqswire

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/swarm-go/swarm/kernel"
)

// typed gives plain attributes the String data type, as SQS returns them.
func typed(plain map[string]string) map[string]Attr {
	out := make(map[string]Attr, len(plain))
	for k, v := range plain {
		out[k] = Attr{DataType: "String", StringValue: v}
	}
	return out
}

func TestBodyRoundTrip(t *testing.T) {
	for _, p := range [][]byte{
		[]byte(`{"id":"o-1"}`), []byte("tab\tnew\nline\r"), []byte("héllo ✓ 𝄞"),
		{}, {0}, {0xff, 0xfe}, []byte("\uFFFE"), []byte{0xed, 0xa0, 0x80}, // a surrogate
	} {
		body, enc := EncodeBody(p)
		env := &kernel.Envelope{Category: "c", ID: "i", Payload: p}
		attrs, _, err := EncodeAttrs(env, enc)
		if err != nil {
			t.Fatal(err)
		}
		got := Decode(Message{Body: body, MessageAttributes: typed(attrs)}, "")
		if !bytes.Equal(got.Payload, p) || got.Category != "c" || got.ID != "i" || got.Attrs != nil {
			t.Errorf("%q (encoding %q) came back as %+v", p, enc, got)
		}
		if enc == "" && !ValidText([]byte(body)) {
			t.Errorf("%q sent as text", p)
		}
	}
}

func TestAttrs(t *testing.T) {
	env := &kernel.Envelope{Category: "c", ID: "i", Attrs: map[string]string{"tenant": "acme", "empty": ""}}
	attrs, size, err := EncodeAttrs(env, "")
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
	if _, _, err := EncodeAttrs(&kernel.Envelope{Category: "c", ID: "i", Attrs: many}, ""); !kernel.IsPermanent(err) {
		t.Errorf("11 attributes: %v, want a permanent error", err)
	}
	if _, _, err := EncodeAttrs(&kernel.Envelope{Attrs: map[string]string{CategoryAttr: "x"}}, ""); !kernel.IsPermanent(err) {
		t.Errorf("reserved attribute: %v, want a permanent error", err)
	}
}

func TestDecodeAttributes(t *testing.T) {
	got := Decode(Message{ID: "m-1", Body: "x", Attributes: map[string]string{ReceiveCountAttr: "2"},
		MessageAttributes: map[string]Attr{
			CategoryAttr: {DataType: "String", StringValue: "Order"},
			"count":      {DataType: "Number", StringValue: "7"},
			"blob":       {DataType: "Binary", BinaryValue: []byte{1}},
		}}, "d")
	if got.Category != "Order" || got.ID != "m-1" || got.Attempt != 2 || len(got.Attrs) != 1 || got.Attrs["count"] != "7" {
		t.Errorf("decoded %+v", got)
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
	got := Decode(Message{Body: body, ID: "sqs-1", Attributes: map[string]string{ReceiveCountAttr: "3"}}, "")
	if string(got.Payload) != `{"id":"o-1"}` || got.Category != "Order" || got.ID != "e-1" ||
		got.Attrs["tenant"] != "acme" || len(got.Attrs) != 1 || got.Attempt != 3 {
		t.Errorf("decoded %+v", got)
	}

	// Without attributes: the SNS message id, the default category.
	got = Decode(Message{Body: snsEnvelope(t, "hi", nil)}, "Note")
	if string(got.Payload) != "hi" || got.ID != "sns-1" || got.Category != "Note" || got.Attempt != 1 {
		t.Errorf("decoded %+v", got)
	}

	// Binary payload through the envelope.
	b, enc := EncodeBody([]byte{0, 0xff})
	got = Decode(Message{Body: snsEnvelope(t, b, map[string]string{EncodingAttr: enc, CategoryAttr: "blob"})}, "")
	if !bytes.Equal(got.Payload, []byte{0, 0xff}) || got.Category != "blob" {
		t.Errorf("decoded %+v", got)
	}

	// A swarm message whose payload looks like a notification stays as it is.
	attrs, _, _ := EncodeAttrs(&kernel.Envelope{Category: "raw", ID: "x"}, "")
	got = Decode(Message{Body: body, MessageAttributes: typed(attrs)}, "")
	if string(got.Payload) != body || got.Category != "raw" {
		t.Errorf("a swarm message was unwrapped: %+v", got)
	}

	// Not JSON, or JSON of another kind: the body as it is.
	for _, s := range []string{`{"Type":"Notification"`, `{"Type":"Notification","Message":"x"}`, "plain"} {
		if got := Decode(Message{Body: s}, "d"); string(got.Payload) != s {
			t.Errorf("%q decoded as %q", s, got.Payload)
		}
	}
}

func TestDedupID(t *testing.T) {
	if got := DedupID("abc-1"); got != "abc-1" {
		t.Errorf("DedupID kept %q", got)
	}
	long := string(bytes.Repeat([]byte("x"), 200))
	if got := DedupID(long); len(got) != 64 || got != DedupID(long) {
		t.Errorf("long id hashed to %q", got)
	}
	if a, b := DedupID(""), DedupID(""); a == b || len(a) != 32 {
		t.Errorf("empty ids give %q and %q", a, b)
	}
}
