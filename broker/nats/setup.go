package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// streamConfig is the configuration of a stream this broker creates for
// the queue of subject: the subject itself and its category subjects (see
// categoryInfix).
func streamConfig(c *config, name, subject string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: "swarm queue " + subject,
		Subjects:    []string{subject, subject + categoryInfix + "*"},
		Storage:     c.storage,
		Retention:   c.retention,
		Replicas:    c.replicas,
	}
}

// setup creates the queue's stream if it does not exist and creates or
// updates the durable consumer, which Receive then pulls from. The first
// setup chooses the wire from the stream's subjects.
func (d *driver) setup(ctx context.Context) error {
	created, subjects, err := ensureStream(ctx, d.js, d.stream, d.subject)
	if err != nil {
		return fmt.Errorf("%w (on %s)", err, d.where)
	}
	d.created = created
	if !d.wireSet {
		d.chooseWire(subjects)
	}
	cons, err := d.js.CreateOrUpdateConsumer(ctx, d.stream.Name, d.consumer)
	if err != nil {
		hint := ""
		if d.stream.Retention == jetstream.WorkQueuePolicy {
			hint = " (a work-queue stream takes one consumer: use the default consumer name, or WithRetention(jetstream.InterestPolicy))"
		}
		return fmt.Errorf("nats: consumer %s on stream %s on %s: %w%s", d.consumer.Durable, d.stream.Name, d.where, err, hint)
	}
	d.cons.Store(&cons)
	return nil
}

// chooseWire sets how messages carry their envelope. On a stream of
// exactly the subjects this broker creates, the category travels in the
// subject, the id only with WithDeduplication (the stream's sequence is the
// id otherwise), and the consumer takes the whole stream; on any other
// stream (created before category subjects existed, or by another tool)
// both travel in headers to the queue's subject, and the consumer takes
// that subject alone.
func (d *driver) chooseWire(subjects []string) {
	d.wireSet = true
	d.wire = wire{idKey: HeaderID}
	d.consumer.FilterSubject = d.subject
	if slices.Equal(slices.Sorted(slices.Values(subjects)), slices.Sorted(slices.Values(d.stream.Subjects))) {
		d.wire = wire{catPrefix: d.subject + categoryInfix}
		// The stream's subjects are all the queue's: no filter, which a
		// server before 2.10 could not set for two subjects.
		d.consumer.FilterSubject = ""
	}
	if d.dedup {
		d.wire.idKey = jetstream.MsgIDHeader
	}
}

// ensureStream creates the stream of cfg, or checks that the existing stream
// of that name captures subject. It returns when the stream was created (by
// the server's clock), which tells it from a stream of the same name
// created again later, and the stream's subjects.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, subject string) (time.Time, []string, error) {
	s, err := js.CreateStream(ctx, cfg)
	if err == nil {
		info := s.CachedInfo()
		return info.Created, info.Config.Subjects, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return time.Time{}, nil, fmt.Errorf("nats: create stream %s for subject %s: %w", cfg.Name, subject, err)
	}
	s, err = js.Stream(ctx, cfg.Name)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("nats: stream %s: %w", cfg.Name, err)
	}
	info := s.CachedInfo()
	for _, pattern := range info.Config.Subjects {
		if subjectMatch(pattern, subject) {
			return info.Created, info.Config.Subjects, nil
		}
	}
	return time.Time{}, nil, fmt.Errorf("nats: stream %s exists but does not capture subject %s (its subjects: %v); name another stream with WithStream",
		cfg.Name, subject, info.Config.Subjects)
}

// subjectMatch reports whether pattern ('*' one token, '>' the rest)
// matches subject.
func subjectMatch(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}
