package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// streamConfig is the configuration of a stream this broker creates for
// subject.
func streamConfig(c *config, name, subject string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: "swarm queue " + subject,
		Subjects:    []string{subject},
		Storage:     c.storage,
		Retention:   c.retention,
		Replicas:    c.replicas,
	}
}

// setup creates the queue's stream if it does not exist and creates or
// updates the durable consumer, which Receive then pulls from.
func (d *driver) setup(ctx context.Context) error {
	created, err := ensureStream(ctx, d.js, d.stream, d.subject)
	if err != nil {
		return fmt.Errorf("%w (on %s)", err, d.where)
	}
	d.created = created
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

// ensureStream creates the stream of cfg, or checks that the existing stream
// of that name captures subject. It returns when the stream was created (by
// the server's clock), which tells it from a stream of the same name
// created again later.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, subject string) (time.Time, error) {
	s, err := js.CreateStream(ctx, cfg)
	if err == nil {
		return s.CachedInfo().Created, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return time.Time{}, fmt.Errorf("nats: create stream %s for subject %s: %w", cfg.Name, subject, err)
	}
	s, err = js.Stream(ctx, cfg.Name)
	if err != nil {
		return time.Time{}, fmt.Errorf("nats: stream %s: %w", cfg.Name, err)
	}
	info := s.CachedInfo()
	for _, pattern := range info.Config.Subjects {
		if subjectMatch(pattern, subject) {
			return info.Created, nil
		}
	}
	return time.Time{}, fmt.Errorf("nats: stream %s exists but does not capture subject %s (its subjects: %v); name another stream with WithStream",
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
