package sqs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/swarm-go/swarm/kernel"
)

// Message attributes the broker sets on every message. Subscription filter
// policies route on CategoryAttr, e.g. {"swarm-category": ["Order"]}.
const (
	// CategoryAttr carries the message's category.
	CategoryAttr = "swarm-category"
	// IDAttr carries the id the emitter gave the message.
	IDAttr = "swarm-id"
	// EncodingAttr is set when the body is not the payload itself:
	// "base64" for a payload that is not valid SQS text, "empty" for an
	// empty payload (SQS bodies cannot be empty).
	EncodingAttr = "swarm-encoding"
)

// MaxAttributes is the SQS limit on message attributes per message; the
// broker's own take two or three of them.
const MaxAttributes = 10

// encodeBody returns the SQS body for payload and the encoding it needs
// ("" when the body is the payload).
func encodeBody(p []byte) (string, string) {
	switch {
	case len(p) == 0:
		return " ", "empty"
	case validText(p):
		return string(p), ""
	default:
		return base64.StdEncoding.EncodeToString(p), "base64"
	}
}

// validText reports whether p is UTF-8 made only of the characters SQS
// accepts in a body: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF.
func validText(p []byte) bool {
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

// encodeAttrs builds the message attributes of env and their size as SQS
// counts it (name, type and value bytes).
func encodeAttrs(env *kernel.Envelope, encoding string) (map[string]types.MessageAttributeValue, int, error) {
	attrs := make(map[string]types.MessageAttributeValue, len(env.Attrs)+3)
	size := 0
	put := func(name, value string) {
		attrs[name] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(value)}
		size += len(name) + len("String") + len(value)
	}
	for name, value := range env.Attrs {
		if value == "" {
			continue // SQS rejects empty values; an empty attribute reads back as absent
		}
		if name == CategoryAttr || name == IDAttr || name == EncodingAttr {
			return nil, 0, kernel.Permanent(fmt.Errorf("attribute %q is reserved by swarm", name))
		}
		put(name, value)
	}
	if env.Category != "" {
		put(CategoryAttr, env.Category)
	}
	if env.ID != "" {
		put(IDAttr, env.ID)
	}
	if encoding != "" {
		put(EncodingAttr, encoding)
	}
	if len(attrs) > MaxAttributes {
		return nil, 0, kernel.Permanent(fmt.Errorf("%d message attributes with swarm's own, SQS allows %d", len(attrs), MaxAttributes))
	}
	return attrs, size, nil
}

// notification is the JSON envelope SNS wraps a message in when it delivers
// to an SQS queue without raw message delivery.
type notification struct {
	Type              string
	MessageId         string
	TopicArn          string
	Message           string
	MessageAttributes map[string]struct {
		Type  string
		Value string
	}
}

var notificationMark = []byte(`"Notification"`)

// unwrapNotification returns the message and attributes of an SNS
// notification body, or ok false when body is not one.
func unwrapNotification(body string) (msg, id string, attrs map[string]string, ok bool) {
	b := []byte(body)
	if len(b) == 0 || b[0] != '{' || !bytes.Contains(b, notificationMark) {
		return "", "", nil, false
	}
	var n notification
	if json.Unmarshal(b, &n) != nil || n.Type != "Notification" || n.TopicArn == "" {
		return "", "", nil, false
	}
	if len(n.MessageAttributes) > 0 {
		attrs = make(map[string]string, len(n.MessageAttributes))
		for name, a := range n.MessageAttributes {
			attrs[name] = a.Value
		}
	}
	return n.Message, n.MessageId, attrs, true
}

// decode turns a received message into an envelope: attributes carried as
// SQS message attributes (sent by swarm, or by SNS with raw delivery), or
// an SNS notification envelope unwrapped, so a listener on a queue
// subscribed to a topic gets the published object and its category.
func decode(m *types.Message, defaultCategory string) kernel.Envelope {
	body := aws.ToString(m.Body)
	id := aws.ToString(m.MessageId)
	var attrs map[string]string
	if _, ours := m.MessageAttributes[CategoryAttr]; !ours {
		if msg, snsID, a, ok := unwrapNotification(body); ok {
			body, id, attrs = msg, snsID, a
		}
	}
	if attrs == nil && len(m.MessageAttributes) > 0 {
		attrs = make(map[string]string, len(m.MessageAttributes))
		for name, v := range m.MessageAttributes {
			if v.StringValue != nil {
				attrs[name] = *v.StringValue
			}
		}
	}
	env := kernel.Envelope{Category: defaultCategory, ID: id, Payload: []byte(body), Attempt: 1}
	if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil && n > 0 {
		env.Attempt = n
	}
	if v, ok := attrs[CategoryAttr]; ok {
		env.Category = v
		delete(attrs, CategoryAttr)
	}
	if v, ok := attrs[IDAttr]; ok {
		env.ID = v
		delete(attrs, IDAttr)
	}
	if v, ok := attrs[EncodingAttr]; ok {
		delete(attrs, EncodingAttr)
		switch v {
		case "empty":
			env.Payload = []byte{}
		case "base64":
			// A body that does not decode stays as it is: the listener's
			// codec then reports it, and it is dead-lettered.
			if p, err := base64.StdEncoding.DecodeString(body); err == nil {
				env.Payload = p
			}
		}
	}
	if len(attrs) > 0 {
		env.Attrs = attrs
	}
	return env
}
