// Package kinesiswire is swarm's record format on Amazon Kinesis, in one
// place for every reader and writer of it: the kinesis broker and Lambda
// functions fed by Kinesis (broker/lambda).
package kinesiswire

import (
	"encoding/binary"
	"errors"

	"github.com/swarm-go/swarm/kernel"
)

// A Kinesis record is a data blob and a partition key, nothing else, so the
// category, id, attempt and attributes of a message travel in a small
// length-prefixed header in front of the payload:
//
//	0xF5 0x01                      magic and version
//	uvarint attempt                deliveries before this record (0 when emitted)
//	uvarint len, category bytes
//	uvarint len, id bytes
//	uvarint count, then per attribute: uvarint len, key, uvarint len, value
//	payload                        the rest of the blob, unchanged (binary-safe)
//
// 0xF5 never starts UTF-8 text nor JSON, so records written by other
// producers are told apart and delivered as bare payloads with no category.
const (
	frameMagic   = 0xF5
	frameVersion = 0x01
)

// ErrBroken is returned by Unframe for data that starts like a swarm frame
// but does not decode as one.
var ErrBroken = errors.New("kinesis: broken swarm frame")

// HeaderSize is the size of the header Frame writes in front of env's
// payload.
func HeaderSize(env *kernel.Envelope, attempt int) int {
	n := 2 + uvarintLen(uint64(attempt)) + strLen(env.Category) + strLen(env.ID) + uvarintLen(uint64(len(env.Attrs)))
	for k, v := range env.Attrs {
		n += strLen(k) + strLen(v)
	}
	return n
}

// Frame returns the record data of env: the header, then the payload.
// attempt is the number of deliveries before this record (0 when emitted).
func Frame(env *kernel.Envelope, attempt int) []byte {
	b := make([]byte, 0, HeaderSize(env, attempt)+len(env.Payload))
	b = append(b, frameMagic, frameVersion)
	b = binary.AppendUvarint(b, uint64(attempt))
	b = appendStr(b, env.Category)
	b = appendStr(b, env.ID)
	b = binary.AppendUvarint(b, uint64(len(env.Attrs)))
	for k, v := range env.Attrs {
		b = appendStr(b, k)
		b = appendStr(b, v)
	}
	return append(b, env.Payload...)
}

// Unframe decodes record data into env: category, id, attributes, payload,
// and Attempt as the deliveries before this record plus one. Data without
// the frame's magic is a foreign record (IsFrame false): its whole blob is
// the payload, with no category, and Attempt 1. Data that starts like a
// frame but is truncated or malformed fails with ErrBroken. The payload
// aliases data.
func Unframe(data []byte, env *kernel.Envelope) error {
	if !IsFrame(data) {
		env.Payload, env.Attempt = data, 1
		return nil
	}
	r := reader{b: data[2:]}
	attempt := r.uvarint()
	env.Category = r.str()
	env.ID = r.str()
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return ErrBroken
	}
	if n > 0 {
		env.Attrs = make(map[string]string, n)
		for range n {
			k := r.str()
			env.Attrs[k] = r.str()
		}
	}
	if r.bad {
		return ErrBroken
	}
	env.Attempt = int(attempt) + 1
	env.Payload = r.b
	return nil
}

// Decode decodes record data as Unframe does, except that a broken frame
// is not an error: like a foreign record, it is delivered as a bare payload
// with no category (the listener then reports it as of unknown category, or
// the reader gives it its default one).
func Decode(data []byte) kernel.Envelope {
	var env kernel.Envelope
	if Unframe(data, &env) != nil {
		return kernel.Envelope{Payload: data, Attempt: 1}
	}
	return env
}

// IsFrame reports whether data starts with the swarm frame's magic and
// version, that is whether a swarm emitter wrote it.
func IsFrame(data []byte) bool {
	return len(data) >= 2 && data[0] == frameMagic && data[1] == frameVersion
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func strLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad = true
		r.b = nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
