package swarmtest

import (
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// RunRestart checks that a broker restart in the middle of a stream loses
// nothing: cfg.RestartMessages messages are emitted at-least-once while
// cfg.Restart restarts the server half way, and every one must arrive
// (duplicates allowed). It skips when cfg.Restart is nil. Run it on a
// private server process, never on a service other tests share.
func RunRestart(t *testing.T, cfg Config) {
	cfg.defaults()
	if cfg.Restart == nil {
		t.Skip("skipped: Config.Restart is nil, this broker's server cannot be restarted by the test")
	}
	h := newHarness(t, cfg)
	n := cfg.RestartMessages
	// Generous retries: the emitter must ride out the restart, not
	// dead-letter through it.
	opts := []swarm.Option{
		swarm.WithRetry(swarm.ExponentialBackoff(50*time.Millisecond, 2*time.Second, 60)),
		swarm.WithRedelivery(swarm.ConstantBackoff(50*time.Millisecond, 1000)),
	}
	producer := h.open(opts...)
	consumer := h.open(opts...)
	enq, dlq := emit.Typed[Note](producer)
	deq, ack := listen.Typed[Note](consumer)

	var mu sync.Mutex
	seen := make(map[int]int, n)
	deliveries := 0
	all := make(chan struct{})
	go func() {
		for m := range deq {
			mu.Lock()
			seen[m.Object.Seq]++
			deliveries++
			if len(seen) == n {
				select {
				case <-all:
				default:
					close(all)
				}
			}
			mu.Unlock()
			ack <- m
		}
	}()
	var dead []int
	go func() {
		for v := range dlq {
			mu.Lock()
			dead = append(dead, v.Seq)
			mu.Unlock()
		}
	}()

	start := time.Now()
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		got := 0
		for got < n/4 {
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			got = len(seen)
			mu.Unlock()
		}
		t.Logf("restarting the server after %d of %d messages arrived", got, n)
		cfg.Restart(t)
	}()
	for i := range n {
		enq <- Note{Seq: i}
		if i == n/2 {
			<-restarted // the second half is sent across and after the restart
		}
	}
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dead) > 0 {
		t.Errorf("%d messages were dead-lettered by the emitter (first: %d)", len(dead), dead[0])
	}
	if len(seen) != n {
		missing := []int{}
		for i := 0; i < n && len(missing) < 10; i++ {
			if seen[i] == 0 {
				missing = append(missing, i)
			}
		}
		t.Fatalf("%d of %d messages arrived after the restart; first missing: %v", len(seen), n, missing)
	}
	t.Logf("restart: %d sent, %d distinct received, %d duplicates, in %v",
		n, len(seen), deliveries-len(seen), time.Since(start).Round(time.Millisecond))
}
