package contender

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm/bench/workload"
)

// harness lends the emulator starters of the broker modules (sqstest,
// kinesistest, written for tests) the testing.TB they need, outside a test:
// Fatalf and Skipf end the start with an error instead of a failed test,
// and the cleanups run when the benchmark releases the broker. Only the
// methods those starters call are implemented; any other one panics on the
// nil embedded TB, which startEmulator turns into an error too.
type harness struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

// stopStart is the panic that carries a Fatalf or Skipf out of the starter.
type stopStart struct{ msg string }

func (h *harness) Helper()             {}
func (h *harness) Logf(string, ...any) {}
func (h *harness) Failed() bool        { h.mu.Lock(); defer h.mu.Unlock(); return h.failed }
func (h *harness) Fatalf(f string, a ...any) {
	h.stop(fmt.Sprintf(f, a...))
}
func (h *harness) Skipf(f string, a ...any) { h.stop(fmt.Sprintf(f, a...)) }
func (h *harness) Cleanup(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cleanups = append(h.cleanups, f)
}

func (h *harness) stop(msg string) {
	h.mu.Lock()
	h.failed = true
	h.mu.Unlock()
	panic(stopStart{msg})
}

// release runs the cleanups, last registered first, as testing does.
func (h *harness) release() {
	h.mu.Lock()
	fs := slices.Clone(h.cleanups)
	h.cleanups = nil
	h.mu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
}

// startEmulator runs start (an emulator starter taking a testing.TB) and
// returns a release function that stops what it started, or the error a
// Fatalf, Skipf or panic inside it reported (what it started is released).
func startEmulator(start func(t testing.TB)) (release func(), err error) {
	h := &harness{}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		h.release()
		release = nil
		if s, ok := r.(stopStart); ok {
			err = fmt.Errorf("%s", s.msg)
		} else {
			err = fmt.Errorf("emulator start: %v", r)
		}
	}()
	start(h)
	return h.release, nil
}

// requireTCP reports whether a server accepts connections at addr.
func requireTCP(server, addr string) (func(), error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("no %s at %s: %w", server, addr, err)
	}
	_ = c.Close()
	return func() {}, nil
}

// cleaned is a contender whose Close also removes what the run left on
// the server (its queue, table or stream).
type cleaned struct {
	workload.Contender
	after func()
}

func (c cleaned) Close() error {
	err := c.Contender.Close()
	c.after()
	return err
}

// withCleanup makes c's Close run after as well.
func withCleanup(c workload.Contender, after func()) workload.Contender {
	return cleaned{Contender: c, after: after}
}

// send puts v on ch with a plain channel send, as the raw contenders and an
// application make, watching ctx only while ch is full: a select on ctx for
// every message would cost one contender what the others do not pay.
func send[T any](ctx context.Context, ch chan<- T, v T) error {
	select {
	case ch <- v:
		return nil
	default:
	}
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// receive takes the next value of ch as send puts one: a plain receive,
// watching ctx only while ch is empty. ok is false once ch is closed.
func receive[T any](ctx context.Context, ch <-chan T) (v T, ok bool, err error) {
	select {
	case v, ok = <-ch:
		return v, ok, nil
	default:
	}
	select {
	case v, ok = <-ch:
		return v, ok, nil
	case <-ctx.Done():
		return v, false, ctx.Err()
	}
}
