package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// A hub holds one LISTEN connection per process, server and channel, shared
// by every broker of the process that listens there, and turns notifications
// into wake-ups of waiting receivers.
//
// A notification wakes one receiver of its queue, the one served least
// recently, rather than all of them: the others would only race for the same
// rows. A receiver that takes a full batch wakes the next one, since more
// may be waiting. In one process, consumers of a queue are thus served in
// turn, like the in-process broker's.
type hub struct {
	key     string
	cfg     *pgx.ConnConfig
	channel string

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// subscriber is one broker's place in its hub.
type subscriber struct {
	h      *hub
	queue  string
	report func(error)
	noted  func(sender string) // every notification of queue; sender "" when unknown
	served time.Time           // last time it took messages; guarded by h.mu
	wait   chan struct{}       // closed to wake it; nil when not waiting; guarded by h.mu
}

var hubs = struct {
	sync.Mutex
	m map[string]*hub
}{m: map[string]*hub{}}

// subscribe attaches a receiver of queue to the hub of key, starting the
// hub's LISTEN loop when it is the first. Detach with unsubscribe.
//
// noted hears of every notification of queue (the payload's sender token,
// "" when it carries none), and of a (re)connect with "", whether or not
// it wakes the receiver.
func subscribe(key string, cfg *pgx.ConnConfig, channel, queue string, report func(error), noted func(sender string)) *subscriber {
	hubs.Lock()
	defer hubs.Unlock()
	h := hubs.m[key]
	if h == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h = &hub{key: key, cfg: cfg, channel: channel, subs: map[*subscriber]struct{}{},
			cancel: cancel, done: make(chan struct{})}
		hubs.m[key] = h
		go h.run(ctx)
	}
	s := &subscriber{h: h, queue: queue, report: report, noted: noted, served: time.Now()}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// unsubscribe detaches s; the last one out stops the hub and waits for its
// connection to close.
func (s *subscriber) unsubscribe() {
	h := s.h
	hubs.Lock()
	h.mu.Lock()
	delete(h.subs, s)
	last := len(h.subs) == 0
	h.mu.Unlock()
	if last {
		delete(hubs.m, h.key)
	}
	hubs.Unlock()
	if last {
		h.cancel()
		<-h.done
	}
}

// arm registers s as waiting and returns the channel that wakes it. A
// receiver arms before it queries, so a notification that arrives between
// its query and its wait is not missed.
func (s *subscriber) arm() <-chan struct{} {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.wait = make(chan struct{})
	return s.wait
}

// disarm ends a wait; served records that it took messages. It reports
// whether s was still waiting (false: a wake-up came meanwhile).
func (s *subscriber) disarm(served bool) bool {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if served {
		s.served = time.Now()
	}
	armed := s.wait != nil
	s.wait = nil
	return armed
}

// wakeSelf wakes s if it is waiting.
func (s *subscriber) wakeSelf() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if s.wait != nil {
		close(s.wait)
		s.wait = nil
	}
}

// notified tells the receivers of queue of a notification from sender,
// and wakes one.
func (h *hub) notified(queue, sender string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.queue == queue {
			s.noted(sender)
		}
	}
	h.wakeOneLocked(queue)
}

// wakeOne wakes the waiting receiver of queue served least recently.
func (h *hub) wakeOne(queue string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.wakeOneLocked(queue)
}

func (h *hub) wakeOneLocked(queue string) {
	var next *subscriber
	for s := range h.subs {
		if s.wait != nil && s.queue == queue && (next == nil || s.served.Before(next.served)) {
			next = s
		}
	}
	if next != nil {
		close(next.wait)
		next.wait = nil
	}
}

// wakeAll wakes every waiting receiver, after a (re)connect: what was sent
// while no LISTEN was in place is in the table, maybe below where their
// takes start (see scanner), which noting an unknown sender sees to.
func (h *hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.noted("")
		if s.wait != nil {
			close(s.wait)
			s.wait = nil
		}
	}
}

// reportAll tells every attached broker that listening failed; receivers
// fall back to polling meanwhile. It reports under h.mu (reports never
// block), so no broker hears from the hub once unsubscribe has returned.
func (h *hub) reportAll(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.report(err)
	}
}

const (
	listenBackoffMin = 50 * time.Millisecond
	listenBackoffMax = 2 * time.Second
)

// run keeps a LISTEN session up, reconnecting with backoff, until ctx ends.
func (h *hub) run(ctx context.Context) {
	defer close(h.done)
	backoff := time.Duration(0)
	for {
		err := h.session(ctx, func() { backoff = 0 })
		if ctx.Err() != nil {
			return
		}
		h.reportAll(err)
		backoff = min(max(2*backoff, listenBackoffMin), listenBackoffMax)
		if !sleep(ctx, backoff) {
			return
		}
	}
}

// session connects, listens and relays notifications until the connection
// fails or ctx ends. connected is called once LISTEN is in place.
func (h *hub) session(ctx context.Context, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, h.cfg)
	if err != nil {
		return err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(c)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{h.channel}.Sanitize()); err != nil {
		return err
	}
	connected()
	h.wakeAll()
	for {
		nt, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		h.notified(parsePayload(nt.Payload))
	}
}
