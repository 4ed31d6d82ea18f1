package kernel_test

import (
	"context"
	"testing"
	"time"

	"github.com/swarm-go/swarm/internal/fake"
	"github.com/swarm-go/swarm/kernel"
)

// failOne receives the scripted deliveries of category c and fails them all.
func failOne(t *testing.T, k *kernel.Kernel) time.Time {
	t.Helper()
	in, err := k.Listen("c", "T")
	if err != nil {
		t.Fatal(err)
	}
	ds := <-in.Deliveries()
	ss := make([]kernel.Settlement, len(ds))
	for i, d := range ds {
		ss[i] = kernel.Settlement{Digest: d, Err: errFlaky}
	}
	at := time.Now()
	in.Settle(context.Background(), ss)
	return at
}

func redeliverEvery(d time.Duration) kernel.Option {
	return func(c *kernel.Config) error { c.Redelivery = kernel.Constant(d, 5); return nil }
}

// A broker that cannot delay a nack gets the failed delivery back only
// after the backoff: the kernel holds it meanwhile, then nacks with no delay.
func TestFailWaitsOutBackoffWithoutDelay(t *testing.T) {
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 10, Redelivery: true}}
	d.Script([]kernel.Envelope{{Category: "c", ID: "m1", Attempt: 1, Handle: 1}})
	k, _ := newKernel(t, d, redeliverEvery(200*time.Millisecond))
	failedAt := failOne(t, k)

	time.Sleep(50 * time.Millisecond)
	if n := d.Nacks(); len(n) != 0 {
		t.Fatalf("nacked %v after 50ms of a 200ms backoff: the backoff was not waited out", n)
	}
	if got := k.InFlight(); got != 1 {
		t.Errorf("in flight while held = %d, want 1 (a held delivery keeps its slot)", got)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(d.Nacks()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	n := d.Nacks()
	if len(n) != 1 || n[0].Handle != 1 || n[0].Delay != 0 {
		t.Fatalf("nacks %v, want handle 1 once with no delay", n)
	}
	if waited := n[0].At.Sub(failedAt); waited < 200*time.Millisecond {
		t.Errorf("nacked %v after the fail, want at least the 200ms backoff", waited)
	}
	for k.InFlight() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := k.InFlight(); got != 0 {
		t.Errorf("in flight after the release = %d, want 0", got)
	}
}

// Close hands a held delivery back at once rather than waiting out its
// backoff.
func TestCloseReleasesHeld(t *testing.T) {
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 10, Redelivery: true}}
	d.Script([]kernel.Envelope{{Category: "c", ID: "m1", Attempt: 1, Handle: 1}})
	k, _ := newKernel(t, d, redeliverEvery(time.Hour))
	failOne(t, k)
	start := time.Now()
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %v with a delivery held for an hour", took)
	}
	if n := d.Nacks(); len(n) != 1 || n[0].Handle != 1 || n[0].Delay != 0 {
		t.Fatalf("nacks at Close %v, want handle 1 with no delay", n)
	}
}

// A broker that delays nacks itself gets the delay at once.
func TestFailPassesDelayToBroker(t *testing.T) {
	d := &fake.Driver{Caps: kernel.Capabilities{MaxBatch: 10, Redelivery: true, Delay: true}}
	d.Script([]kernel.Envelope{{Category: "c", ID: "m1", Attempt: 1, Handle: 1}})
	k, _ := newKernel(t, d, redeliverEvery(time.Hour))
	failOne(t, k)
	if n := d.Nacks(); len(n) != 1 || n[0].Delay != time.Hour {
		t.Fatalf("nacks %v, want one with the 1h delay", n)
	}
}
