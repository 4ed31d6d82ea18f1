package nats

import (
	"net/url"
	"strconv"
	"strings"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm/kernel"
)

// Headers a message carries beside its payload. Values are query-escaped so
// that any string (newlines, leading spaces, non-ASCII) round-trips through
// NATS headers; the ordinary ones read as they are.
const (
	// HeaderCategory carries Envelope.Category on a stream that does not
	// capture the queue's category subjects (one created before they
	// existed, or by another tool), and on every dead letter.
	HeaderCategory = "Swarm-Category"
	// HeaderAttrPrefix prefixes each attribute: Swarm-Attr-<key>: <value>.
	HeaderAttrPrefix = "Swarm-Attr-"
	// HeaderID carries Envelope.ID where the category travels in
	// HeaderCategory, and on every dead letter.
	HeaderID = "Swarm-Id"
	// HeaderDeadLetterFrom names, on a dead letter, the stream and sequence
	// it came from.
	HeaderDeadLetterFrom = "Swarm-Dead-Letter-From"
)

// categoryInfix joins a queue's subject and a category's token: a message
// of category c on queue q goes to the subject q.category.<c>, and the
// stream of q captures q and q.category.*. A message then needs no header
// at all, and headers are dear: given one Swarm-Category header, 100-byte
// messages cost nats.go's JetStream client and nats-server 2.9 about a
// quarter more CPU each (swarmbench's NATS rows, BENCHMARKS.md). It also
// lets NATS tools and consumers filter a queue by category.
const categoryInfix = ".category."

// categorySubject is the subject of category's messages on queue: queue
// itself for the empty category (a subject token cannot be empty).
func categorySubject(queue, category string) string {
	if category == "" {
		return queue
	}
	return queue + categoryInfix + subjectToken(category)
}

// subjectToken escapes s into one subject token: bytes other than ASCII
// letters, digits, '-' and '_' become %XX, so that '.', wildcards, spaces
// and the rest cannot split or widen the subject.
func subjectToken(s string) string {
	plain := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	}
	n := 0
	for i := range len(s) {
		if !plain(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := range len(s) {
		if c := s[i]; plain(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// categoryOfSubject is the category of a message published to subject, when
// prefix (queue + categoryInfix) starts it.
func categoryOfSubject(subject, prefix string) (string, bool) {
	if prefix == "" || !strings.HasPrefix(subject, prefix) {
		return "", false
	}
	tok := subject[len(prefix):]
	if !strings.Contains(tok, "%") {
		return tok, true
	}
	if c, err := url.PathUnescape(tok); err == nil {
		return c, true
	}
	return tok, true
}

// wire is how a queue's messages carry their envelope.
type wire struct {
	// catPrefix is queue + categoryInfix when the category travels in the
	// subject, "" when it travels in HeaderCategory.
	catPrefix string
	// idKey is the header of a message's id: "" when the id is not sent
	// (the stream's sequence is the id), HeaderID, or jetstream.MsgIDHeader
	// for the stream to store a retried publish once (WithDeduplication).
	idKey string
}

// setMessage fills m with the message of env, to be published on subject
// (categorySubject's when the category travels in the subject).
func (w wire) setMessage(m *natsgo.Msg, subject string, env *kernel.Envelope) {
	catHeader, idHeader := w.catPrefix == "", w.idKey != "" && env.ID != ""
	var h natsgo.Header
	if catHeader || idHeader || len(env.Attrs) > 0 {
		h = make(natsgo.Header, 2+len(env.Attrs))
		// One array holds both values: an allocation less per message.
		var vs [2]string
		if catHeader {
			vs[0] = url.QueryEscape(env.Category)
			h[HeaderCategory] = vs[0:1:1]
		}
		if idHeader {
			vs[1] = url.QueryEscape(env.ID)
			h[w.idKey] = vs[1:2:2]
		}
		for k, v := range env.Attrs {
			h[HeaderAttrPrefix+url.QueryEscape(k)] = []string{url.QueryEscape(v)}
		}
	}
	*m = natsgo.Msg{Subject: subject, Header: h, Data: env.Payload}
}

// envelope turns a delivery into the kernel's envelope. Attempt is the
// server's delivery count. The category is the header's, else the
// subject's; the id is the header's (HeaderID or Nats-Msg-Id), else
// stream:sequence, which redeliveries keep.
func (w wire) envelope(m jetstream.Msg) kernel.Envelope {
	env := kernel.Envelope{Payload: m.Data(), Handle: m, Attempt: 1}
	stream, seq, n, ok := ackTokens(m.Reply())
	if ok {
		env.Attempt = max(n, 1)
	} else if meta, err := m.Metadata(); err == nil {
		env.Attempt = max(int(meta.NumDelivered), 1)
		stream, seq = meta.Stream, strconv.FormatUint(meta.Sequence.Stream, 10)
	}
	catSet := false
	for k, vs := range m.Headers() {
		if len(vs) == 0 {
			continue
		}
		switch {
		case k == HeaderCategory:
			env.Category, catSet = unescape(vs[0]), true
		case k == HeaderID, k == jetstream.MsgIDHeader:
			env.ID = unescape(vs[0])
		case strings.HasPrefix(k, HeaderAttrPrefix):
			if env.Attrs == nil {
				env.Attrs = map[string]string{}
			}
			env.Attrs[unescape(k[len(HeaderAttrPrefix):])] = unescape(vs[0])
		}
	}
	if !catSet {
		env.Category, _ = categoryOfSubject(m.Subject(), w.catPrefix)
	}
	if env.ID == "" && stream != "" {
		env.ID = stream + ":" + seq
	}
	return env
}

// ackTokens reads the stream, its sequence and the delivery count from a
// JetStream ack subject without allocating, as Metadata would (its token
// slice and struct, per message):
// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>
// from older servers (9 tokens), or with <domain>.<account hash> after ACK
// and more tokens at the end (11 or more). ok is false for anything else.
func ackTokens(reply string) (stream, seq string, n int, ok bool) {
	if !strings.HasPrefix(reply, "$JS.ACK.") {
		return "", "", 0, false
	}
	var first int // the stream's token
	switch tokens := strings.Count(reply, ".") + 1; {
	case tokens == 9:
		first = 2
	case tokens >= 11:
		first = 4
	default:
		return "", "", 0, false
	}
	rest := reply
	for range first {
		rest = rest[strings.IndexByte(rest, '.')+1:]
	}
	// rest: <stream>.<consumer>.<delivered>.<sseq>.…
	var tok [4]string
	for i := range tok {
		j := strings.IndexByte(rest, '.')
		if j < 0 {
			return "", "", 0, false
		}
		tok[i], rest = rest[:j], rest[j+1:]
	}
	n, ok = number(tok[2])
	if _, seqOK := number(tok[3]); !ok || !seqOK {
		return "", "", 0, false
	}
	return tok[0], tok[3], n, true
}

// number parses a token of decimal digits that fits an int.
func number(s string) (int, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// unescape undoes url.QueryEscape, keeping a value that was not escaped
// (published by another client) as it is.
func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
