package kernel_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/swarm-go/swarm/internal/fake"
	"github.com/swarm-go/swarm/kernel"
)

var errFlaky = errors.New("flaky")

func newKernel(t *testing.T, d *fake.Driver, opts ...kernel.Option) (*kernel.Kernel, chan error) {
	t.Helper()
	errs := make(chan error, 100)
	opts = append([]kernel.Option{func(c *kernel.Config) error {
		c.Retry = kernel.Constant(time.Millisecond, 3)
		c.StdErr = errs
		return nil
	}}, opts...)
	cfg, err := kernel.NewConfig(opts...)
	if err != nil {
		t.Fatal(err)
	}
	k := kernel.New(cfg, "fake://q", d)
	t.Cleanup(func() { _ = k.Close() })
	return k, errs
}

func envs(e *kernel.Emitter, payloads ...string) []kernel.Envelope {
	out := make([]kernel.Envelope, len(payloads))
	for i, p := range payloads {
		out[i] = e.Envelope([]byte(p))
	}
	return out
}

func payloads(batch []kernel.Envelope) string {
	var s []string
	for _, e := range batch {
		s = append(s, string(e.Payload))
	}
	return strings.Join(s, ",")
}

// A partial failure is retried entry by entry, in order, and only the
// failed entries are sent again.
func TestSendRetriesFailedEntriesInOrder(t *testing.T) {
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 10}, Fail: func(env kernel.Envelope, nth int) error {
		if (string(env.Payload) == "b" || string(env.Payload) == "d") && nth == 1 {
			return errFlaky
		}
		return nil
	}}
	k, _ := newKernel(t, d)
	e, err := k.Emitter("c", "T", false)
	if err != nil {
		t.Fatal(err)
	}
	if errs := e.Send(context.Background(), envs(e, "a", "b", "c", "d")); errs != nil {
		t.Fatalf("errs = %v", errs)
	}
	sends := d.Sends()
	if len(sends) != 2 || payloads(sends[0]) != "a,b,c,d" || payloads(sends[1]) != "b,d" {
		t.Fatalf("sends = %v", sends)
	}
}

// Retries stop after the configured attempts; the error names the attempts
// and is reported with the category and id.
func TestSendExhaustsRetries(t *testing.T) {
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 10}, Fail: func(env kernel.Envelope, _ int) error {
		if string(env.Payload) == "bad" {
			return errFlaky
		}
		return nil
	}}
	k, reported := newKernel(t, d)
	e, _ := k.Emitter("c", "T", false)
	errs := e.Send(context.Background(), envs(e, "ok", "bad"))
	if errs == nil || errs[0] != nil || !errors.Is(errs[1], errFlaky) || !strings.Contains(errs[1].Error(), "3 attempts") {
		t.Fatalf("errs = %v", errs)
	}
	if n := len(d.Sends()); n != 3 {
		t.Errorf("%d sends, want 3 attempts", n)
	}
	var ke *kernel.Error
	if err := <-reported; !errors.As(err, &ke) || ke.Category != "c" || ke.ID == "" || ke.Op != "emit" {
		t.Errorf("reported %v", err)
	}
}

func TestSendPermanentIsNotRetried(t *testing.T) {
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 10}, Fail: func(kernel.Envelope, int) error {
		return kernel.Permanent(errFlaky)
	}}
	k, _ := newKernel(t, d)
	e, _ := k.Emitter("c", "T", false)
	if errs := e.Send(context.Background(), envs(e, "x")); errs == nil || !errors.Is(errs[0], errFlaky) {
		t.Fatalf("errs = %v", errs)
	}
	if n := len(d.Sends()); n != 1 {
		t.Errorf("%d sends of a permanent failure, want 1", n)
	}
}

// Batches are split by count and by bytes, and an oversized payload fails
// alone without being sent.
func TestSendChunks(t *testing.T) {
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 3, MaxBatchBytes: 5, MaxPayload: 5}}
	k, _ := newKernel(t, d)
	e, _ := k.Emitter("c", "T", false)
	errs := e.Send(context.Background(), envs(e, "a", "b", "c", "d", "eeee", "ffffff", "g"))
	if errs == nil || !errors.Is(errs[5], kernel.ErrTooLarge) {
		t.Fatalf("errs = %v", errs)
	}
	var got []string
	for _, s := range d.Sends() {
		got = append(got, payloads(s))
	}
	if want := "a,b,c|d,eeee|g"; strings.Join(got, "|") != want {
		t.Fatalf("chunks %q, want %q", strings.Join(got, "|"), want)
	}
}

// A full batch is followed by an immediate receive; an empty one by a
// growing backoff, never a fixed sleep per batch.
func TestReceivePacing(t *testing.T) {
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 2, Redelivery: true}}
	var batches [][]kernel.Envelope
	for i := range 20 {
		batches = append(batches, []kernel.Envelope{{Category: "c", ID: string(rune('a' + i)), Handle: i}, {Category: "c", Handle: 100 + i}})
	}
	d.Script(batches...)
	k, _ := newKernel(t, d, func(c *kernel.Config) error { c.PollFrequency = time.Second; return nil })
	in, err := k.Listen("c", "T")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for got := 0; got < 40; {
		ds := <-in.Deliveries()
		ss := make([]kernel.Settlement, len(ds))
		for i, d := range ds {
			ss[i] = kernel.Settlement{Digest: d}
		}
		in.Settle(context.Background(), ss)
		got += len(ds)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("20 full batches took %v: the kernel waited between full batches", d)
	}
	time.Sleep(300 * time.Millisecond)
	calls := d.Receives()
	idle := 0
	for _, c := range calls {
		if c.After(start.Add(100 * time.Millisecond)) {
			idle++
		}
	}
	// Backoff from 1ms doubling: about 8 calls in the first 300ms idle, not hundreds.
	if idle > 15 {
		t.Errorf("%d receives while idle for 300ms: no backoff after empty receives", idle)
	}
	acked, _ := d.Settled()
	if len(acked) != 40 {
		t.Errorf("%d acked, want 40", len(acked))
	}
}

func TestConfigValidation(t *testing.T) {
	_, err := kernel.NewConfig(func(c *kernel.Config) error { c.AckCapacity = 0; return nil })
	if !errors.Is(err, kernel.ErrConfig) || !strings.Contains(err.Error(), "ack capacity") {
		t.Fatalf("err = %v, want ErrConfig naming ack capacity", err)
	}
}
