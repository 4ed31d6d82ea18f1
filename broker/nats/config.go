package nats

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm"
)

func positive(c *config, name string, d time.Duration) time.Duration {
	if d <= 0 {
		c.fail("%s: %v, want a positive duration", name, d)
	}
	return d
}

// streamNameBad lists what a stream or consumer name cannot hold.
const streamNameBad = ".*> \t\r\n/\\"

// checkQueue reports whether queue is usable as a subject: not empty, no
// wildcard, no whitespace, no empty token.
func checkQueue(queue string) error {
	if queue == "" {
		return fmt.Errorf("queue name is empty")
	}
	if strings.ContainsAny(queue, "*> \t\r\n") {
		return fmt.Errorf("queue name %q has a wildcard or whitespace", queue)
	}
	for _, tok := range strings.Split(queue, ".") {
		if tok == "" {
			return fmt.Errorf("queue name %q has an empty token (leading, trailing or double '.')", queue)
		}
	}
	return nil
}

// streamName derives a stream name from a queue name.
func streamName(queue string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(streamNameBad, r) {
			return '_'
		}
		return r
	}, queue)
}

// newConfig applies opts over the defaults and validates the result.
func newConfig(queue string, opts []Option) (*config, error) {
	c := &config{
		consumer:       DefaultConsumer,
		storage:        jetstream.FileStorage,
		retention:      jetstream.WorkQueuePolicy,
		replicas:       1,
		connectTimeout: 2 * time.Second,
		reconnectWait:  250 * time.Millisecond,
		apiTimeout:     5 * time.Second,
		pubTimeout:     5 * time.Second,
		fetchWait:      500 * time.Millisecond,
		maxBatch:       1024,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(c)
		}
	}
	if err := checkQueue(queue); err != nil {
		c.errs = append(c.errs, err)
	}
	if c.deadLetter == "" {
		c.deadLetter = queue + ".dlq"
	}
	if c.deadLetter == queue {
		c.fail("dead-letter queue %q is the queue itself", queue)
	}
	if c.stream == "" {
		c.stream = streamName(queue)
	}
	sources := 0
	for _, set := range []bool{c.conn != nil, c.storeDir != "", c.server != nil} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		c.fail("WithConn, WithEmbeddedServer and WithServer exclude each other")
	}
	if c.conn != nil && len(c.connSet) > 0 {
		c.fail("WithConn cannot be combined with %s: configure the connection you pass", strings.Join(c.connSet, ", "))
	}
	if (c.storeDir != "" || c.server != nil) && len(c.urls) > 0 {
		c.fail("WithURL cannot be combined with an in-process server")
	}
	if c.token != "" && c.user != "" {
		c.fail("WithToken and WithUserPassword exclude each other")
	}
	if c.fetchWait > 0 && c.fetchWait < 10*time.Millisecond {
		c.fail("WithFetchWait: %v is too short, want 10ms or more", c.fetchWait)
	}
	if len(c.errs) > 0 {
		msgs := make([]string, len(c.errs))
		for i, err := range c.errs {
			msgs[i] = err.Error()
		}
		return nil, fmt.Errorf("%w: nats: %s", swarm.ErrConfig, strings.Join(msgs, "; "))
	}
	if len(c.urls) == 0 {
		c.urls = []string{DefaultURL}
	}
	if c.name == "" {
		c.name = "swarm " + queue
	}
	return c, nil
}
