package kernel_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm/kernel"
)

// gated is a Sender whose sends wait until the test releases them; it
// counts the sends running at once.
type gated struct {
	caps    kernel.Capabilities
	started chan string // the first payload of each send, as it starts
	release chan struct{}

	mu            sync.Mutex
	running, peak int
}

func (g *gated) Capabilities() kernel.Capabilities { return g.caps }

func (g *gated) Send(_ context.Context, batch []kernel.Envelope) []error {
	g.mu.Lock()
	g.running++
	g.peak = max(g.peak, g.running)
	g.mu.Unlock()
	g.started <- string(batch[0].Payload)
	<-g.release
	g.mu.Lock()
	g.running--
	g.mu.Unlock()
	return nil
}

// TestStartKeepsSendsGoing: with a driver that promises no order and sends
// SendConcurrency chunks at once, a chunk of the next batch starts as soon
// as one send ends, not once every chunk of the batch before has ended, and
// no more than SendConcurrency sends run at once.
func TestStartKeepsSendsGoing(t *testing.T) {
	g := &gated{caps: kernel.Capabilities{MaxBatch: 1, SendConcurrency: 2},
		started: make(chan string, 8), release: make(chan struct{})}
	cfg, err := kernel.NewConfig()
	if err != nil {
		t.Fatal(err)
	}
	k := kernel.New(cfg, "gated://q", g)
	defer k.Close()
	e, err := k.Emitter("c", "T", false)
	if err != nil {
		t.Fatal(err)
	}
	// Start returns once the batch is handed over; the goroutines keep a
	// Start that sends before returning from hanging the test.
	first, next := make(chan (<-chan []error), 1), make(chan (<-chan []error), 1)
	go func() { first <- e.Start(context.Background(), envs(e, "a1", "a2")) }()
	started := func() string {
		t.Helper()
		select {
		case p := <-g.started:
			return p
		case <-time.After(5 * time.Second):
			t.Fatal("no send started")
			return ""
		}
	}
	got := fmt.Sprint(started(), started())
	go func() { next <- e.Start(context.Background(), envs(e, "b1", "b2")) }()
	// One of the first batch's two sends ends; the second batch must not
	// wait for the other.
	g.release <- struct{}{}
	got += " " + started()
	g.release <- struct{}{}
	g.release <- struct{}{}
	got += " " + started()
	g.release <- struct{}{}
	for _, res := range []<-chan []error{<-first, <-next} {
		if errs := <-res; errs != nil {
			t.Fatalf("errs = %v", errs)
		}
	}
	if got != "a1a2 b1 b2" && got != "a2a1 b1 b2" {
		t.Errorf("sends started in the order %q, want the first batch's two, then b1 while a send of the first batch still ran, then b2", got)
	}
	if g.peak != 2 {
		t.Errorf("%d sends ran at once, want SendConcurrency (2)", g.peak)
	}
}
