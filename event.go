package swarm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event is a message with metadata beside its data. On the wire it is one
// JSON object: the fields of *Meta at the top level and the data under
// "data", so an Event[Meta, T] is a CloudEvents structured-mode JSON event.
type Event[M, T any] struct {
	Meta *M
	Data *T
}

// Meta is the metadata of an event. Its JSON names are the CloudEvents
// attribute names, so events interoperate with CloudEvents tooling. Embed it
// in a struct of your own to add fields; the emitter fills the blanks.
type Meta struct {
	// SpecVersion is the CloudEvents version, "1.0" (set on emit).
	SpecVersion string `json:"specversion,omitempty"`
	// ID identifies the event (set on emit when blank: the message id).
	ID string `json:"id,omitempty"`
	// Type is the kind of event (set on emit when blank: the category).
	Type string `json:"type,omitempty"`
	// Source is the agent that emitted the event (URI-reference).
	Source string `json:"source,omitempty"`
	// Subject is what the event is about, within Source.
	Subject string `json:"subject,omitempty"`
	// Created is when the event happened (set on emit when zero).
	Created time.Time `json:"time,omitzero"`
	// CorrelationID ties the event to the request or saga it belongs to.
	CorrelationID string `json:"correlationid,omitempty"`
}

// EventMeta returns m. Structs that embed Meta inherit it, which is how the
// emitter finds the fields to fill.
func (m *Meta) EventMeta() *Meta { return m }

// EventMetaFiller is a metadata type that holds a Meta: Meta itself, or a
// struct that embeds it.
type EventMetaFiller interface{ EventMeta() *Meta }

// FillMeta sets the blank fields of m: spec version, id, type and time.
func FillMeta(m *Meta, id, category string, now time.Time) {
	if m.SpecVersion == "" {
		m.SpecVersion = "1.0"
	}
	if m.ID == "" {
		m.ID = id
	}
	if m.Type == "" {
		m.Type = category
	}
	if m.Created.IsZero() {
		m.Created = now
	}
}

// NewCodecEvent is the JSON codec of Event[M, T] under category ("" for
// TypeName[T]).
func NewCodecEvent[M, T any](category string) Codec[Event[M, T]] {
	if category == "" {
		category = TypeName[T]()
	}
	return eventCodec[M, T](category)
}

type eventCodec[M, T any] string

func (c eventCodec[M, T]) Category() string { return string(c) }

var errMetaNotObject = errors.New("event metadata must encode to a JSON object")

func (c eventCodec[M, T]) Encode(e Event[M, T]) ([]byte, error) {
	meta := []byte("{}")
	if e.Meta != nil {
		var err error
		if meta, err = json.Marshal(e.Meta); err != nil {
			return nil, err
		}
		meta = bytes.TrimSpace(meta)
		if len(meta) < 2 || meta[0] != '{' {
			return nil, errMetaNotObject
		}
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(meta)+len(data)+10)
	out = append(out, meta[:len(meta)-1]...)
	if len(meta) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"data":`...)
	out = append(out, data...)
	return append(out, '}'), nil
}

func (c eventCodec[M, T]) Decode(b []byte) (Event[M, T], error) {
	var body struct {
		Data *T `json:"data"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return Event[M, T]{}, fmt.Errorf("event data: %w", err)
	}
	meta := new(M)
	if err := json.Unmarshal(b, meta); err != nil {
		return Event[M, T]{}, fmt.Errorf("event metadata: %w", err)
	}
	return Event[M, T]{Meta: meta, Data: body.Data}, nil
}
