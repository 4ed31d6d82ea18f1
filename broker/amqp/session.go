package amqp

import (
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/swarm-go/swarm/kernel"
)

// session is one consumer channel. Its delivery tags mean something on that
// channel only: once it is closed they are never used again (the server
// requeued those deliveries when the channel died).
type session struct {
	ch         *amqp091.Channel
	tag        string // consumer tag
	deliveries <-chan amqp091.Delivery
	closed     chan *amqp091.Error
	nativeDLX  bool
	queue      string

	// mu serializes settlement frames, so that a multiple ack never covers a
	// tag that another call is settling another way.
	mu   sync.Mutex
	dead bool
	// out holds the tags delivered and not settled: at most the prefetch.
	out map[uint64]struct{}
	// pend holds the tags the application acked whose ack frame is not
	// written yet. They leave out at once, so the next settlement sees them
	// settled; one multiple ack then covers many (a frame per handful of
	// acks cost a write on both sides).
	pend []uint64
	// ackBatch is the pending acks that make a flush; flushTimer writes the
	// rest within ackDelay of the first one.
	ackBatch   int
	flushTimer *time.Timer
	armed      bool
	logger     *slog.Logger
	ackFrames  int // ack frames written, for the tests
	// timerFlushes counts flushes of pending acks by the timer, for the tests.
	timerFlushes int
}

// ackDelay bounds how long an ack waits for others to share its frame. A
// crash meanwhile only redelivers what was acked (at least once holds).
const ackDelay = 5 * time.Millisecond

// maxAckBatch is the most acks one frame waits for, as a raw consumer acks
// every hundred or so; a smaller prefetch waits for an eighth of it, so the
// pending acks never hold back much of the window.
const maxAckBatch = 128

var consumerSeq atomic.Uint64

// handle is the kernel's token for one delivery.
type handle struct {
	s       *session
	tag     uint64
	attempt int
	msg     amqp091.Delivery
}

// consume opens a consumer channel on l with the prefetch.
func (d *driver) consume(l *link) (*session, error) {
	ch, err := l.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("amqp: open consumer channel on %q: %w", d.queue, err)
	}
	closed := ch.NotifyClose(make(chan *amqp091.Error, 1))
	if err := ch.Qos(d.cfg.prefetch, 0, false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("amqp: set prefetch %d on %q: %w", d.cfg.prefetch, d.queue, err)
	}
	tag := fmt.Sprintf("swarm-%d-%s", consumerSeq.Add(1), d.queue)
	tag = tag[:min(len(tag), 255)] // a short string on the wire
	deliveries, err := ch.Consume(d.queue, tag, false, false, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("amqp: consume %q: %w", d.queue, err)
	}
	s := &session{
		ch:         ch,
		tag:        tag,
		deliveries: deliveries,
		closed:     closed,
		nativeDLX:  l.nativeDLX,
		queue:      d.queue,
		out:        map[uint64]struct{}{},
		ackBatch:   max(1, min(maxAckBatch, d.cfg.prefetch/8)),
		logger:     d.logger,
	}
	s.flushTimer = time.AfterFunc(time.Hour, s.timedFlush)
	s.flushTimer.Stop()
	return s, nil
}

// envelopes turns deliveries into envelopes and tracks their tags.
func (s *session) envelopes(ds []amqp091.Delivery) []kernel.Envelope {
	envs := make([]kernel.Envelope, len(ds))
	hs := make([]handle, len(ds))
	s.mu.Lock()
	for i := range ds {
		s.out[ds[i].DeliveryTag] = struct{}{}
	}
	s.mu.Unlock()
	for i := range ds {
		dv := &ds[i]
		hs[i] = handle{s: s, tag: dv.DeliveryTag, attempt: attemptOf(dv), msg: *dv}
		id := dv.MessageId
		if id == "" {
			id = "amqp-" + dv.ConsumerTag + "-" + strconv.FormatUint(dv.DeliveryTag, 10)
		}
		envs[i] = kernel.Envelope{
			Category: dv.Type,
			ID:       id,
			Attrs:    attrsOf(dv.Headers),
			Payload:  dv.Body,
			Attempt:  hs[i].attempt,
			Handle:   &hs[i],
		}
	}
	return envs
}

// attemptOf counts deliveries: those before the last republish (our
// header), this one, and the server's own redeliveries since: exact on a
// quorum queue (x-delivery-count), at least one on a classic queue (the
// redelivered flag).
func attemptOf(dv *amqp091.Delivery) int {
	n := 1 + int(headerInt(dv.Headers[attemptHeader]))
	if c, ok := dv.Headers["x-delivery-count"]; ok {
		return n + int(headerInt(c))
	}
	if dv.Redelivered {
		n++
	}
	return n
}

func headerInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	}
	return 0
}

// attrsOf returns the string headers, less the broker's own.
func attrsOf(h amqp091.Table) map[string]string {
	var attrs map[string]string
	for k, v := range h {
		s, ok := v.(string)
		if !ok || strings.HasPrefix(k, reservedPrefix) {
			continue
		}
		if attrs == nil {
			attrs = make(map[string]string, len(h))
		}
		attrs[k] = s
	}
	return attrs
}

// republish is the message as it is sent again: the same properties, and
// the deliveries so far in the attempt header.
func (h *handle) republish() amqp091.Publishing {
	m := &h.msg
	headers := maps.Clone(m.Headers)
	if headers == nil {
		headers = amqp091.Table{}
	}
	headers[attemptHeader] = int64(h.attempt)
	// The server's own counts and death records restart with the copy.
	delete(headers, "x-delivery-count")
	return amqp091.Publishing{
		Headers:         headers,
		ContentType:     m.ContentType,
		ContentEncoding: m.ContentEncoding,
		DeliveryMode:    amqp091.Persistent,
		Priority:        m.Priority,
		CorrelationId:   m.CorrelationId,
		ReplyTo:         m.ReplyTo,
		Expiration:      m.Expiration,
		MessageId:       m.MessageId,
		Timestamp:       m.Timestamp,
		Type:            m.Type,
		UserId:          m.UserId,
		AppId:           m.AppId,
		Body:            m.Body,
	}
}

// bySession groups handles by their session; foreign handles are skipped.
func bySession(handles []any) map[*session][]*handle {
	m := map[*session][]*handle{}
	for _, x := range handles {
		if h, ok := x.(*handle); ok && h != nil {
			m[h.s] = append(m[h.s], h)
		}
	}
	return m
}

func (s *session) isDead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead || s.ch.IsClosed()
}

// kill retires the session: its tags are never used again, and its channel
// is closed so the server requeues what it still held.
func (s *session) kill() {
	s.mu.Lock()
	s.dead = true
	s.pend = nil
	s.mu.Unlock()
	s.flushTimer.Stop()
	_ = s.ch.Close()
}

// live returns the handles whose channel is still open; the others are
// dropped.
func (s *session) live(hs []*handle) []*handle {
	if s.isDead() {
		return nil
	}
	return hs
}

// settle runs send on the handles still outstanding, under the session
// lock, unless the channel is dead. A dead channel drops them: the server
// requeued them when it died. A tag is never settled twice (the server
// would close the channel).
func (s *session) settle(hs []*handle, send func([]*handle) error) error {
	if len(hs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead || s.ch.IsClosed() {
		s.dead = true
		return nil
	}
	todo := make([]*handle, 0, len(hs))
	for _, h := range hs {
		if _, ok := s.out[h.tag]; ok {
			todo = append(todo, h)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	// Out of out first: an ack's flush must see these tags settled.
	for _, h := range todo {
		delete(s.out, h.tag)
	}
	err := send(todo)
	if err != nil {
		s.dead = true // a failed frame means a closed channel
		return fmt.Errorf("amqp: settle %d deliveries of %q: %w; the server redelivers them", len(todo), s.queue, err)
	}
	return nil
}

// ack settles hs as acked: their tags wait in pend for a frame shared with
// later acks, written once ackBatch of them wait, or by the timer.
func (s *session) ack(hs []*handle) error {
	return s.settle(hs, func(hs []*handle) error {
		for _, h := range hs {
			s.pend = append(s.pend, h.tag)
		}
		if len(s.pend) >= s.ackBatch {
			return s.flushLocked()
		}
		if !s.armed {
			s.armed = true
			s.flushTimer.Reset(ackDelay)
		}
		return nil
	})
}

// flushLocked writes the pending acks: one multiple ack for those below
// every outstanding tag (a multiple ack covers every unsettled tag up to its
// own, so none still held may lie below it), one by one for the rest.
// The caller holds s.mu; on error the caller marks the session dead.
func (s *session) flushLocked() error {
	if len(s.pend) == 0 {
		return nil
	}
	pend := s.pend
	s.pend = s.pend[:0]
	oldest := ^uint64(0)
	for t := range s.out {
		oldest = min(oldest, t)
	}
	var upTo uint64
	for _, t := range pend {
		if t < oldest && t > upTo {
			upTo = t
		}
	}
	if upTo > 0 {
		s.ackFrames++
		if err := s.ch.Ack(upTo, true); err != nil {
			return err
		}
	}
	for _, t := range pend {
		if t > upTo {
			s.ackFrames++
			if err := s.ch.Ack(t, false); err != nil {
				return err // the channel is closed: the rest fail alike
			}
		}
	}
	return nil
}

// flush writes the pending acks now (before the connection closes).
func (s *session) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushPend()
}

func (s *session) timedFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = false
	if len(s.pend) > 0 {
		s.timerFlushes++
	}
	if err := s.flushPend(); err != nil {
		s.logger.Warn("swarm amqp: acks not written; the server redelivers their messages", "queue", s.queue, "error", err)
	}
}

// flushPend flushes unless the channel is dead (its pending acks died with
// it: the server redelivers those messages). The caller holds s.mu.
func (s *session) flushPend() error {
	n := len(s.pend)
	if n == 0 {
		return nil
	}
	if s.dead || s.ch.IsClosed() {
		s.dead = true
		s.pend = s.pend[:0]
		return nil
	}
	if err := s.flushLocked(); err != nil {
		s.dead = true
		return fmt.Errorf("amqp: ack %d deliveries of %q: %w; the server redelivers them", n, s.queue, err)
	}
	return nil
}

// reject rejects hs without requeue: the queue's dead-letter arguments
// route them.
func (s *session) reject(hs []*handle) error {
	return s.settle(hs, func(hs []*handle) error {
		for _, h := range hs {
			if err := s.ch.Reject(h.tag, false); err != nil {
				return err
			}
		}
		return nil
	})
}

// requeue gives hs back to the server (basic.nack with requeue), the last
// resort when they could not be moved: they come back with the redelivered
// flag.
func (s *session) requeue(hs []*handle) error {
	return s.settle(hs, func(hs []*handle) error {
		for _, h := range hs {
			if err := s.ch.Nack(h.tag, false, true); err != nil {
				return err
			}
		}
		return nil
	})
}
