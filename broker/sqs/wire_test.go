package sqs

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/swarm-go/swarm/kernel"
)

// decode adapts the SDK's message to the wire format: system and message
// attributes (String, Number; Binary left out), body and id.
func TestDecodeSDKMessage(t *testing.T) {
	attrs, _, err := encodeAttrs(&kernel.Envelope{Category: "Order", ID: "e-1", Attrs: map[string]string{"tenant": "acme"}}, "base64")
	if err != nil {
		t.Fatal(err)
	}
	attrs["blob"] = types.MessageAttributeValue{DataType: aws.String("Binary"), BinaryValue: []byte{1}}
	attrs["n"] = types.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String("7")}
	got := decode(&types.Message{Body: aws.String("AP8="), MessageId: aws.String("sqs-1"), MessageAttributes: attrs,
		Attributes: map[string]string{"ApproximateReceiveCount": "4"}}, "d")
	if !bytes.Equal(got.Payload, []byte{0, 0xff}) || got.Category != "Order" || got.ID != "e-1" || got.Attempt != 4 ||
		len(got.Attrs) != 2 || got.Attrs["tenant"] != "acme" || got.Attrs["n"] != "7" {
		t.Errorf("decoded %+v", got)
	}
	if a := attrs[CategoryAttr]; aws.ToString(a.DataType) != "String" || aws.ToString(a.StringValue) != "Order" {
		t.Errorf("category attribute %+v", a)
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
