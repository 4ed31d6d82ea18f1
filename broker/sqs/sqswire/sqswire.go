// Package sqswire is swarm's wire format on Amazon SQS, in one place for
// every reader and writer of it: the sqs broker, the sns emitter's
// deliveries to queues, and Lambda functions fed by SQS (broker/lambda).
//
// A message's body is its payload (base64 when the payload is not valid SQS
// text); its category, id and encoding travel as String message attributes
// (CategoryAttr, IDAttr, EncodingAttr) beside the application's attributes.
// Messages SNS delivers to a queue are understood in both forms: raw
// delivery (the attributes are SQS message attributes) and the JSON
// notification envelope. The package works on plain values, so it serves
// the SDK's types.Message and the Lambda event's SQSMessage alike.
package sqswire

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/swarm-go/swarm/kernel"
)

// Message attributes swarm sets on every message. Subscription filter
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

// MaxAttributes is the SQS limit on message attributes per message; swarm's
// own take two or three of them.
const MaxAttributes = 10

// ReceiveCountAttr is the system attribute counting deliveries of a message.
const ReceiveCountAttr = "ApproximateReceiveCount"

// EncodeBody returns the SQS body for payload p and the encoding it needs
// ("" when the body is the payload itself).
func EncodeBody(p []byte) (body, encoding string) {
	switch {
	case len(p) == 0:
		return " ", "empty"
	case ValidText(p):
		return string(p), ""
	default:
		return base64.StdEncoding.EncodeToString(p), "base64"
	}
}

// ValidText reports whether p is UTF-8 made only of the characters SQS
// accepts in a body: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF.
func ValidText(p []byte) bool {
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

// EncodeAttrs returns the String message attributes of env (its own, then
// swarm's) and their size as SQS counts it (name, data type and value
// bytes). Empty values are left out, since SQS rejects them. It fails with
// a permanent error when env uses a name reserved by swarm or when the
// attributes exceed MaxAttributes.
func EncodeAttrs(env *kernel.Envelope, encoding string) (map[string]string, int, error) {
	attrs := make(map[string]string, len(env.Attrs)+3)
	size := 0
	put := func(name, value string) {
		attrs[name] = value
		size += len(name) + len("String") + len(value)
	}
	for name, value := range env.Attrs {
		if value == "" {
			continue // an empty attribute reads back as absent
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

// Attr is a message attribute as SQS returns it. Only String and Number
// attributes (and their custom subtypes) are carried to the envelope;
// Binary ones are not swarm's and are left out.
type Attr struct {
	DataType    string
	StringValue string
	BinaryValue []byte
}

// Message is a received SQS message in plain values.
type Message struct {
	// ID is the SQS message id.
	ID string
	// Body is the message body.
	Body string
	// Attributes are the system attributes (ApproximateReceiveCount, ...).
	Attributes map[string]string
	// MessageAttributes are the message attributes.
	MessageAttributes map[string]Attr
}

// Decode turns a received message into an envelope: the category, id and
// encoding carried as message attributes (sent by swarm, or by SNS with raw
// delivery), or an SNS notification envelope unwrapped, so a listener on a
// queue subscribed to a topic gets the published object and its category.
// A message without a category gets defaultCategory. Attempt is the receive
// count (1 when unknown). A body that claims base64 but does not decode is
// left as it is, for the listener's codec to report.
func Decode(m Message, defaultCategory string) kernel.Envelope {
	body, id := m.Body, m.ID
	var attrs map[string]string
	if _, ours := m.MessageAttributes[CategoryAttr]; !ours {
		if msg, snsID, a, ok := unwrapNotification(body); ok {
			body, id, attrs = msg, snsID, a
		}
	}
	if attrs == nil && len(m.MessageAttributes) > 0 {
		attrs = make(map[string]string, len(m.MessageAttributes))
		for name, v := range m.MessageAttributes {
			if !strings.HasPrefix(v.DataType, "Binary") {
				attrs[name] = v.StringValue
			}
		}
	}
	env := kernel.Envelope{Category: defaultCategory, ID: id, Payload: []byte(body), Attempt: 1}
	if n, err := strconv.Atoi(m.Attributes[ReceiveCountAttr]); err == nil && n > 0 {
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

// unwrapNotification returns the message, id and attributes of an SNS
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

// GroupID is the MessageGroupId of env on a FIFO queue or topic: the value
// of the attribute attr when set and present, else the category, else
// "swarm".
func GroupID(env *kernel.Envelope, attr string) string {
	if attr != "" {
		if g := env.Attrs[attr]; g != "" {
			return g
		}
	}
	if env.Category != "" {
		return env.Category
	}
	return "swarm"
}

// DedupID makes a MessageDeduplicationId of a message id: the id itself
// when SQS and SNS accept it (at most 128 printable ASCII characters), else
// its SHA-256; random when there is no id.
func DedupID(id string) string {
	if id == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	ok := len(id) <= 128
	for i := 0; ok && i < len(id); i++ {
		ok = id[i] > ' ' && id[i] < 0x7f
	}
	if ok {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}
