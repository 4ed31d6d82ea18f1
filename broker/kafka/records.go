package kafka

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swarm-go/swarm/kernel"
	"github.com/twmb/franz-go/pkg/kgo"
)

// builder makes the records of one send. A profile of 100-byte messages
// showed record building at a fifth of the client's allocations (a record,
// a header slice, a key, and the category and id bytes, each per message);
// the builder carves them out of a few slabs per batch instead, and the
// slabs go back to a pool once the client settled every record (allocating
// and clearing fresh ones was a twelfth of the driver's CPU per message
// sent). Records built by one builder share their key and category bytes
// when their categories are equal; nothing writes to them after they are
// built.
type builder struct {
	d     *driver
	ctx   context.Context
	topic string
	recs  []kgo.Record
	hdrs  []kgo.RecordHeader
	ids   []byte // the ids of the batch, back to back
	cat   string // the last category seen and its bytes
	catB  []byte
	// now stamps every record of the batch: the client reads the clock
	// for each record without a timestamp, which was a twentieth of the
	// CPU per message sent.
	now time.Time
}

// builders holds builders whose records were all settled.
var builders = sync.Pool{New: func() any { return new(builder) }}

// newBuilder sizes the slabs for envs; records built beyond them are still
// correct, just allocated on their own.
func (d *driver) newBuilder(ctx context.Context, topic string, envs []kernel.Envelope) *builder {
	headers, idBytes := 0, 0
	for i := range envs {
		headers += 2 + len(envs[i].Attrs)
		idBytes += len(envs[i].ID)
	}
	b := builders.Get().(*builder)
	b.d, b.ctx, b.topic, b.now = d, ctx, topic, time.Now()
	b.recs = slab(b.recs, len(envs))
	b.hdrs = slab(b.hdrs, headers)
	b.ids = slab(b.ids, idBytes)
	return b
}

// slab returns s emptied, or a new slice when s holds fewer than n.
func slab[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, 0, n)
	}
	return s[:0]
}

// release gives b back for a later send. Only once the client settled
// every record of b: it must not hold one of them any more.
func (b *builder) release() {
	clear(b.recs) // the payloads and the context are the caller's
	b.d, b.ctx = nil, nil
	builders.Put(b)
}

// category returns the bytes of c, shared with the previous record's when
// it had the same category (a batch usually has one).
func (b *builder) category(c string) []byte {
	if b.catB == nil || c != b.cat {
		b.cat, b.catB = c, []byte(c)
	}
	return b.catB
}

// add builds the Kafka record of env, with attempt recorded when it is past
// the first. An attribute with the reserved prefix fails permanently.
//
// The category travels as the key when the record is keyed by it (the
// default), and as a header only otherwise: a record with a swarm-id
// header and no category header has its key as category. The header
// repeated the key in every record, 30 of the about 90 bytes swarm adds
// to a 100-byte message, which the client encodes and compresses and the
// cluster checks and stores.
func (b *builder) add(env *kernel.Envelope, attempt int) (*kgo.Record, error) {
	cat := b.category(env.Category)
	key, keyIsCat := cat, true
	if b.d.c.keyAttr != "" {
		if v, ok := env.Attrs[b.d.c.keyAttr]; ok && v != env.Category {
			key, keyIsCat = []byte(v), false
		}
	}
	start := len(b.ids)
	b.ids = append(b.ids, env.ID...)
	first := len(b.hdrs)
	b.hdrs = append(b.hdrs, kgo.RecordHeader{Key: headerID, Value: b.ids[start:len(b.ids):len(b.ids)]})
	if !keyIsCat {
		b.hdrs = append(b.hdrs, kgo.RecordHeader{Key: headerCategory, Value: cat})
	}
	if attempt > 1 {
		b.hdrs = append(b.hdrs, kgo.RecordHeader{Key: headerAttempt, Value: []byte(strconv.Itoa(attempt))})
	}
	for k, v := range env.Attrs {
		if strings.HasPrefix(k, reservedPrefix) {
			b.hdrs = b.hdrs[:first]
			b.ids = b.ids[:start]
			return nil, kernel.Permanent(fmt.Errorf("kafka: attribute %q uses the reserved header prefix %q", k, reservedPrefix))
		}
		b.hdrs = append(b.hdrs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	// The capacity ends at this record's last header, so that appending a
	// header to it (dead letters) never overwrites the next record's.
	hs := b.hdrs[first:len(b.hdrs):len(b.hdrs)]
	b.recs = append(b.recs, kgo.Record{Topic: b.topic, Key: key, Value: env.Payload, Headers: hs, Timestamp: b.now, Context: b.ctx})
	return &b.recs[len(b.recs)-1], nil
}

// record builds one record alone (tests and single re-sends).
func (d *driver) record(ctx context.Context, topic string, env *kernel.Envelope, attempt int) (*kgo.Record, error) {
	return d.newBuilder(ctx, topic, []kernel.Envelope{*env}).add(env, attempt)
}

// reader reads the envelopes of one fetch. Like builder it exists for the
// allocations: the ids of the whole fetch are copied into one string, and a
// category equal to the previous record's reuses its string.
type reader struct {
	ids    strings.Builder
	spans  []int // end of each record's id in ids; -1 when it has none
	cat    string
	hasCat bool
}

// idSpans copies the swarm id of every record of fs into one string and
// returns it with the end offset of each (-1: no id header).
func (rd *reader) collectIDs(fs kgo.Fetches) string {
	total := 0
	fs.EachRecord(func(r *kgo.Record) {
		for i := range r.Headers {
			if r.Headers[i].Key == headerID {
				total += len(r.Headers[i].Value)
				break
			}
		}
	})
	rd.ids.Grow(total)
	rd.spans = make([]int, 0, fs.NumRecords())
	fs.EachRecord(func(r *kgo.Record) {
		end := -1
		for i := range r.Headers {
			if r.Headers[i].Key == headerID {
				rd.ids.Write(r.Headers[i].Value)
				end = rd.ids.Len()
				break
			}
		}
		rd.spans = append(rd.spans, end)
	})
	return rd.ids.String()
}

// category returns v as a string, the previous one's when equal.
func (rd *reader) category(v []byte) string {
	if !rd.hasCat || string(v) != rd.cat {
		rd.cat, rd.hasCat = string(v), true
	}
	return rd.cat
}

// envelope reads a record's headers back into an envelope.
func envelope(r *kgo.Record) kernel.Envelope {
	var rd reader
	return rd.envelope(r, "")
}

// envelope reads r's headers; id, when not empty, is its swarm id already
// read (collectIDs).
func (rd *reader) envelope(r *kgo.Record, id string) kernel.Envelope {
	env := kernel.Envelope{Payload: r.Value, Attempt: 1, ID: id}
	swarmed, categorized := false, false
	for _, h := range r.Headers {
		switch h.Key {
		case headerCategory:
			env.Category, categorized = rd.category(h.Value), true
		case headerID:
			swarmed = true
			if id == "" {
				env.ID = string(h.Value)
			}
		case headerAttempt:
			if n, err := strconv.Atoi(string(h.Value)); err == nil && n > 1 {
				env.Attempt = n
			}
		default:
			if strings.HasPrefix(h.Key, reservedPrefix) {
				continue
			}
			if env.Attrs == nil {
				env.Attrs = make(map[string]string, len(r.Headers))
			}
			env.Attrs[h.Key] = string(h.Value)
		}
	}
	if swarmed && !categorized {
		env.Category = rd.category(r.Key) // keyed by its category (builder.add)
	}
	if env.ID == "" {
		// A record from another producer: its position is its identity.
		env.ID = fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)
	}
	return env
}
