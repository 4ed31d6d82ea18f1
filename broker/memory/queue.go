package memory

import (
	"container/heap"
	"context"
	"maps"
	"sync"
	"time"

	"github.com/swarm-go/swarm/kernel"
)

// queue is one named in-process queue. Every broker opened with its name
// shares it, as the clients of one server queue do; it outlives them, so
// messages survive a consumer's Close and reopen, as on a server.
type queue struct {
	name     string
	capacity int

	mu       sync.Mutex
	ready    fifo // redeliveries go to the front
	inflight list // deliveries not yet settled
	delayed  delayHeap
	expiry   time.Time     // no lease expires before this
	wake     chan struct{} // closed when messages become ready
	space    chan struct{} // closed when room is made
	waiting  bool          // someone waits on wake or space
	seq      uint64
}

type item struct {
	env      kernel.Envelope
	token    uint64 // current delivery; 0 when not in flight
	deadline time.Time
	// prev and next link the item in the queue's in-flight list while
	// it is in flight.
	prev, next *item
}

// delivery is the handle of one delivery of an item.
type delivery struct {
	it    *item
	token uint64
}

var (
	registry   sync.Mutex
	namedQueue = map[string]*queue{}
)

// open returns the queue of name, creating it with capacity if it is new.
func open(name string, capacity int) *queue {
	registry.Lock()
	defer registry.Unlock()
	q, ok := namedQueue[name]
	if !ok {
		q = &queue{
			name:     name,
			capacity: capacity,
			wake:     make(chan struct{}),
			space:    make(chan struct{}),
		}
		namedQueue[name] = q
	}
	return q
}

func (q *queue) size() int {
	return q.ready.len() + q.inflight.n + len(q.delayed)
}

// signal wakes receivers and senders waiting on the queue. Channels are only replaced when someone
// took one to wait on, so a busy queue allocates nothing here.
func (q *queue) signal() {
	if !q.waiting {
		return
	}
	close(q.wake)
	close(q.space)
	q.wake, q.space = make(chan struct{}), make(chan struct{})
	q.waiting = false
}

// put appends envelopes, waiting while the queue is full. It returns how
// many it stored before ctx ended.
func (q *queue) put(ctx context.Context, batch []kernel.Envelope) (int, error) {
	// One slab of items per batch keeps the allocations per batch, not per
	// message. The payloads are kept as they are: nothing writes to a
	// payload once it is handed to Send (see kernel.Sender).
	items := make([]item, len(batch))
	stored := 0
	for stored < len(batch) {
		q.mu.Lock()
		from := stored
		for stored < len(batch) && q.size()+stored-from < q.capacity {
			env := batch[stored]
			env.Attrs = maps.Clone(env.Attrs)
			env.Handle, env.Attempt = nil, 0
			it := &items[stored]
			it.env = env
			stored++
		}
		q.ready.push(items[from:stored:stored])
		q.signal()
		space := q.space
		if stored < len(batch) {
			q.waiting = true
		}
		q.mu.Unlock()
		if stored == len(batch) {
			break
		}
		select {
		case <-space:
		case <-ctx.Done():
			return stored, ctx.Err()
		}
	}
	return stored, nil
}

// take returns up to max deliveries, waiting up to wait for the first.
func (q *queue) take(ctx context.Context, max int, lease, wait time.Duration) []kernel.Envelope {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		q.mu.Lock()
		now := time.Now()
		q.promote(now)
		if n := min(max, q.ready.len()); n > 0 {
			envs := make([]kernel.Envelope, n)
			ds := make([]delivery, n)
			deadline := now.Add(lease)
			i := 0
			q.ready.pop(n, func(it *item) {
				q.seq++
				it.token, it.deadline = q.seq, deadline
				it.env.Attempt++
				q.inflight.add(it)
				ds[i] = delivery{it, q.seq}
				envs[i] = it.env
				envs[i].Handle = &ds[i]
				i++
			})
			if q.expiry.IsZero() || deadline.Before(q.expiry) {
				q.expiry = deadline
			}
			q.mu.Unlock()
			return envs
		}
		next := q.nextEvent(now)
		wake := q.wake
		q.waiting = true
		q.mu.Unlock()

		var soon <-chan time.Time
		if next > 0 {
			t := time.NewTimer(next)
			defer t.Stop()
			soon = t.C
		}
		select {
		case <-wake:
		case <-soon:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// promote makes ready what is due: delayed messages whose delay passed, and
// deliveries whose lease expired (redelivered with a higher attempt).
func (q *queue) promote(now time.Time) {
	var back []*item
	for len(q.delayed) > 0 && !q.delayed[0].due.After(now) {
		back = append(back, heap.Pop(&q.delayed).(delayed).it)
	}
	if !q.expiry.IsZero() && !q.expiry.After(now) {
		q.expiry = time.Time{}
		for it, next := q.inflight.first(), (*item)(nil); it != nil; it = next {
			next = it.next
			if !it.deadline.After(now) {
				q.inflight.remove(it)
				it.token = 0
				back = append(back, it)
			} else if q.expiry.IsZero() || it.deadline.Before(q.expiry) {
				q.expiry = it.deadline
			}
		}
	}
	q.front(back)
}

// front puts items back at the head of the ready list, in their order.
func (q *queue) front(its []*item) {
	if len(its) == 0 {
		return
	}
	q.ready.pushFront(its)
	q.signal()
}

// nextEvent is the wait until a delayed message is due or a lease expires
// (0 when there is none).
func (q *queue) nextEvent(now time.Time) time.Duration {
	var next time.Time
	if len(q.delayed) > 0 {
		next = q.delayed[0].due
	}
	if !q.expiry.IsZero() && (next.IsZero() || q.expiry.Before(next)) {
		next = q.expiry
	}
	if next.IsZero() {
		return 0
	}
	return max(next.Sub(now), time.Millisecond)
}

// settle applies f to each current delivery among handles, then after,
// under the lock; stale handles (already settled, or expired and
// redelivered) are skipped.
func (q *queue) settle(handles []any, f func(*item), after func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	freed := false
	for _, h := range handles {
		d, ok := h.(*delivery)
		if !ok || d.it.token != d.token {
			continue
		}
		q.inflight.remove(d.it)
		d.it.token = 0
		f(d.it)
		freed = true
	}
	if after != nil {
		after()
	}
	if freed {
		q.signal()
	}
}

// release hands deliveries back: at the head of the queue at once, or after
// delay.
func (q *queue) release(handles []any, delay time.Duration) {
	var now []*item
	due := time.Now().Add(delay)
	q.settle(handles, func(it *item) {
		if delay <= 0 {
			now = append(now, it)
			return
		}
		heap.Push(&q.delayed, delayed{it, due})
	}, func() {
		q.front(now)
		if delay > 0 {
			q.signal() // a waiting receiver recomputes its timer
		}
	})
}

// delayed is an item released with a delay, and when it is due. The due
// time lives here rather than in every item: few items are ever delayed.
type delayed struct {
	it  *item
	due time.Time
}

type delayHeap []delayed

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = delayed{}
	*h = old[:len(old)-1]
	return d
}
