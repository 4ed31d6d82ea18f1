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
	// HeaderCategory carries Envelope.Category.
	HeaderCategory = "Swarm-Category"
	// HeaderAttrPrefix prefixes each attribute: Swarm-Attr-<key>: <value>.
	HeaderAttrPrefix = "Swarm-Attr-"
	// HeaderID carries Envelope.ID, unless WithDeduplication has it carried
	// by Nats-Msg-Id.
	HeaderID = "Swarm-Id"
	// HeaderDeadLetterFrom names, on a dead letter, the stream and sequence
	// it came from.
	HeaderDeadLetterFrom = "Swarm-Dead-Letter-From"
)

// message builds the NATS message of env. The envelope's id goes in the
// header idKey: HeaderID, or jetstream.MsgIDHeader for the stream to store
// a retried publish once.
func message(subject, idKey string, env *kernel.Envelope) *natsgo.Msg {
	m := new(natsgo.Msg)
	setMessage(m, subject, idKey, env)
	return m
}

// setMessage fills m with the message of env, for a batch's messages that
// share one allocation.
func setMessage(m *natsgo.Msg, subject, idKey string, env *kernel.Envelope) {
	h := make(natsgo.Header, 2+len(env.Attrs))
	// One array holds both values: an allocation less per message.
	vs := [2]string{url.QueryEscape(env.Category), url.QueryEscape(env.ID)}
	h[HeaderCategory] = vs[0:1:1]
	if env.ID != "" {
		h[idKey] = vs[1:2:2]
	}
	for k, v := range env.Attrs {
		h[HeaderAttrPrefix+url.QueryEscape(k)] = []string{url.QueryEscape(v)}
	}
	*m = natsgo.Msg{Subject: subject, Header: h, Data: env.Payload}
}

// envelope turns a delivery into the kernel's envelope. Attempt is the
// server's delivery count; the id is the message id (from either header),
// or stream:sequence for a message published without one.
func envelope(m jetstream.Msg) kernel.Envelope {
	env := kernel.Envelope{Payload: m.Data(), Handle: m, Attempt: 1}
	if n, ok := delivered(m.Reply()); ok {
		env.Attempt = max(n, 1)
	} else if meta, err := m.Metadata(); err == nil {
		env.Attempt = max(int(meta.NumDelivered), 1)
	}
	for k, vs := range m.Headers() {
		if len(vs) == 0 {
			continue
		}
		switch {
		case k == HeaderCategory:
			env.Category = unescape(vs[0])
		case k == HeaderID, k == jetstream.MsgIDHeader:
			env.ID = unescape(vs[0])
		case strings.HasPrefix(k, HeaderAttrPrefix):
			if env.Attrs == nil {
				env.Attrs = map[string]string{}
			}
			env.Attrs[unescape(k[len(HeaderAttrPrefix):])] = unescape(vs[0])
		}
	}
	if env.ID == "" {
		if meta, err := m.Metadata(); err == nil {
			env.ID = meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
		}
	}
	return env
}

// delivered reads the delivery count from a JetStream ack subject without
// allocating, as Metadata would (its token slice and struct, per message):
// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>
// from older servers (9 tokens), or with <domain>.<account hash> after ACK
// and more tokens at the end (11 or more). ok is false for anything else.
func delivered(reply string) (n int, ok bool) {
	if !strings.HasPrefix(reply, "$JS.ACK.") {
		return 0, false
	}
	tokens := strings.Count(reply, ".") + 1
	var pos int // the delivery count's token
	switch {
	case tokens == 9:
		pos = 4
	case tokens >= 11:
		pos = 6
	default:
		return 0, false
	}
	for range pos {
		reply = reply[strings.IndexByte(reply, '.')+1:]
	}
	if i := strings.IndexByte(reply, '.'); i >= 0 {
		reply = reply[:i]
	}
	if reply == "" || len(reply) > 18 {
		return 0, false
	}
	for _, c := range []byte(reply) {
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
