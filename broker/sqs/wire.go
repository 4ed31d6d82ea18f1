package sqs

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/swarm-go/swarm/broker/sqs/sqswire"
	"github.com/swarm-go/swarm/kernel"
)

// Message attributes the broker sets on every message (see package
// sqswire, which holds the wire format). Subscription filter policies route
// on CategoryAttr, e.g. {"swarm-category": ["Order"]}.
const (
	// CategoryAttr carries the message's category.
	CategoryAttr = sqswire.CategoryAttr
	// IDAttr carries the id the emitter gave the message.
	IDAttr = sqswire.IDAttr
	// EncodingAttr is set when the body is not the payload itself:
	// "base64" for a payload that is not valid SQS text, "empty" for an
	// empty payload (SQS bodies cannot be empty).
	EncodingAttr = sqswire.EncodingAttr
)

// MaxAttributes is the SQS limit on message attributes per message; the
// broker's own take two or three of them.
const MaxAttributes = sqswire.MaxAttributes

// encodeAttrs builds the SDK message attributes of env and their size as
// SQS counts it.
func encodeAttrs(env *kernel.Envelope, encoding string) (map[string]types.MessageAttributeValue, int, error) {
	plain, size, err := sqswire.EncodeAttrs(env, encoding)
	if err != nil {
		return nil, 0, err
	}
	attrs := make(map[string]types.MessageAttributeValue, len(plain))
	for name, value := range plain {
		attrs[name] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(value)}
	}
	return attrs, size, nil
}

// decode turns a received message into an envelope (sqswire.Decode).
func decode(m *types.Message, defaultCategory string) kernel.Envelope {
	msg := sqswire.Message{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), Attributes: m.Attributes}
	if len(m.MessageAttributes) > 0 {
		msg.MessageAttributes = make(map[string]sqswire.Attr, len(m.MessageAttributes))
		for name, v := range m.MessageAttributes {
			if v.StringValue == nil && v.BinaryValue == nil {
				continue
			}
			msg.MessageAttributes[name] = sqswire.Attr{DataType: aws.ToString(v.DataType),
				StringValue: aws.ToString(v.StringValue), BinaryValue: v.BinaryValue}
		}
	}
	return sqswire.Decode(msg, defaultCategory)
}
