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
	// HeaderDeadLetterFrom names, on a dead letter, the stream and sequence
	// it came from.
	HeaderDeadLetterFrom = "Swarm-Dead-Letter-From"
)

// message builds the NATS message of env. The envelope's id is the
// JetStream message id (Nats-Msg-Id), so a retried publish is deduplicated
// by the stream.
func message(subject string, env *kernel.Envelope) *natsgo.Msg {
	h := make(natsgo.Header, 2+len(env.Attrs))
	h[HeaderCategory] = []string{url.QueryEscape(env.Category)}
	if env.ID != "" {
		h[jetstream.MsgIDHeader] = []string{url.QueryEscape(env.ID)}
	}
	for k, v := range env.Attrs {
		h[HeaderAttrPrefix+url.QueryEscape(k)] = []string{url.QueryEscape(v)}
	}
	return &natsgo.Msg{Subject: subject, Header: h, Data: env.Payload}
}

// envelope turns a delivery into the kernel's envelope. Attempt is the
// server's delivery count; the id is the message id, or stream:sequence
// for a message published without one.
func envelope(m jetstream.Msg) kernel.Envelope {
	env := kernel.Envelope{Payload: m.Data(), Handle: m, Attempt: 1}
	meta, err := m.Metadata()
	if err == nil {
		env.Attempt = max(int(meta.NumDelivered), 1)
	}
	for k, vs := range m.Headers() {
		if len(vs) == 0 {
			continue
		}
		switch {
		case k == HeaderCategory:
			env.Category = unescape(vs[0])
		case k == jetstream.MsgIDHeader:
			env.ID = unescape(vs[0])
		case strings.HasPrefix(k, HeaderAttrPrefix):
			if env.Attrs == nil {
				env.Attrs = map[string]string{}
			}
			env.Attrs[unescape(k[len(HeaderAttrPrefix):])] = unescape(vs[0])
		}
	}
	if env.ID == "" && meta != nil {
		env.ID = meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
	}
	return env
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
