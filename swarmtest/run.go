package swarmtest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// Note is the message type most checks send.
type Note struct {
	Seq  int    `json:"seq"`
	Text string `json:"text"`
}

// Other is a second message type, for routing checks.
type Other struct {
	N int `json:"n"`
}

// Run runs the whole conformance suite against the broker cfg describes.
func Run(t *testing.T, cfg Config) {
	cfg.defaults()
	if cfg.Open == nil {
		t.Fatal("swarmtest: Config.Open is required")
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, cfg)
			c.run(t, h)
		})
	}
	t.Run("Restart", func(t *testing.T) { RunRestart(t, cfg) })
}

type check struct {
	name string
	run  func(*testing.T, *harness)
}

// checks lists every rule of the contract; each file adds its own.
var checks []check

func register(name string, run func(*testing.T, *harness)) bool {
	checks = append(checks, check{name, run})
	return true
}

// harness gives a check a fresh queue, brokers on it, and the errors they
// report.
type harness struct {
	t     *testing.T
	cfg   Config
	queue string
	errs  *errLog
	caps  kernel.Capabilities
}

var nameSafe = regexp.MustCompile(`[^a-z0-9]+`)

func newHarness(t *testing.T, cfg Config) *harness {
	var r [4]byte
	_, _ = rand.Read(r[:])
	base := strings.Trim(nameSafe.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = base[len(base)-40:]
	}
	h := &harness{t: t, cfg: cfg, queue: "st-" + base + "-" + hex.EncodeToString(r[:]), errs: newErrLog()}
	// A check that fails shows what its brokers reported: a receive or
	// send error is often the cause of a message that never came.
	t.Cleanup(func() {
		if t.Failed() {
			h.errs.dump(t)
		}
	})
	return h
}

// defaults are the options every broker of a check gets: errors collected,
// prompt redelivery, and a fast poll so that checks do not wait on timers.
func (h *harness) defaults() []swarm.Option {
	return []swarm.Option{
		swarm.WithStdErr(h.errs.ch),
		swarm.WithRedelivery(swarm.ConstantBackoff(20*time.Millisecond, 5)),
		swarm.WithRetry(swarm.ConstantBackoff(20*time.Millisecond, 3)),
		swarm.WithPollFrequency(50 * time.Millisecond),
	}
}

// open opens a broker on the check's queue; Close is left to the check and
// to cleanup.
func (h *harness) open(opts ...swarm.Option) swarm.Broker {
	h.t.Helper()
	return h.openOn(h.cfg.Open, h.queue, opts...)
}

func (h *harness) openOn(open func(testing.TB, string, ...swarm.Option) (swarm.Broker, error), queue string, opts ...swarm.Option) swarm.Broker {
	h.t.Helper()
	q, err := open(h.t, queue, append(h.defaults(), opts...)...)
	if err != nil {
		h.t.Fatalf("open %s: %v", queue, err)
	}
	h.caps = q.Kernel().Capabilities()
	h.t.Cleanup(func() { _ = q.Close() })
	return q
}

// errLog collects the errors brokers report.
type errLog struct {
	ch   chan error
	mu   sync.Mutex
	seen []error
	done chan struct{}
}

func newErrLog() *errLog {
	l := &errLog{ch: make(chan error, 1024), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for err := range l.ch {
			l.mu.Lock()
			l.seen = append(l.seen, err)
			l.mu.Unlock()
		}
	}()
	return l
}

// dump logs the errors reported so far, at most the first 50.
func (l *errLog) dump(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("errors the brokers reported: %d", len(l.seen))
	for i, err := range l.seen[:min(len(l.seen), 50)] {
		t.Logf("  %d: %v", i+1, err)
	}
}

// wait waits until an error matching target (errors.Is) that satisfies ok
// was reported, and returns it.
func (l *errLog) wait(t *testing.T, timeout time.Duration, target error, ok func(*swarm.Error) bool) *swarm.Error {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, err := range l.seen {
			var e *swarm.Error
			if errors.Is(err, target) && errors.As(err, &e) && (ok == nil || ok(e)) {
				l.mu.Unlock()
				return e
			}
		}
		l.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Fatalf("no error %v reported within %v; reported: %v", target, timeout, l.seen)
	return nil
}

// recv takes n messages from deq, acking each, or fails after the timeout.
func recv[T any](t *testing.T, timeout time.Duration, deq <-chan swarm.Msg[T], ack chan<- swarm.Msg[T], n int) []swarm.Msg[T] {
	t.Helper()
	out := make([]swarm.Msg[T], 0, n)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for len(out) < n {
		select {
		case m, ok := <-deq:
			if !ok {
				t.Fatalf("listen channel closed after %d of %d messages", len(out), n)
			}
			out = append(out, m)
			if ack != nil {
				ack <- m
			}
			timer.Reset(timeout)
		case <-timer.C:
			t.Fatalf("received %d of %d messages; nothing more within %v", len(out), n, timeout)
		}
	}
	return out
}

// quiet fails when deq yields a message within d.
func quiet[T any](t *testing.T, d time.Duration, deq <-chan swarm.Msg[T], why string) {
	t.Helper()
	select {
	case m, ok := <-deq:
		if ok {
			t.Fatalf("%s: got message %+v (attempt %d)", why, m.Object, m.Attempt())
		}
	case <-time.After(d):
	}
}

func need(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Skipf("skipped: the broker does not declare %s", fmt.Sprintf(format, args...))
	}
}
