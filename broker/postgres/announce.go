package postgres

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/swarm-go/swarm/kernel"
)

// announcer sends the NOTIFY that wakes a queue's receivers after a send,
// from one goroutine per broker, so that a send returns once its COPY has
// committed instead of after a second round trip: sends on one emit
// channel run one after another, and in the concurrent benchmark the
// notification was a fifth of each. Announcements asked for while one is
// on its way are merged into the next: a receiver woken takes every row
// committed by then.
type announcer struct {
	d     *driver
	start sync.Once
	wake  chan struct{} // cap 1: one announcement pending at most
	stop  chan struct{}
	done  chan struct{}
}

func newAnnouncer(d *driver) *announcer {
	return &announcer{d: d, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// announce asks for a notification of the queue's channel.
func (a *announcer) announce() {
	a.start.Do(func() { go a.run() })
	select {
	case a.wake <- struct{}{}:
	default: // one is pending already
	}
}

func (a *announcer) run() {
	defer close(a.done)
	for {
		select {
		case <-a.wake:
			a.notify()
		case <-a.stop:
			select {
			case <-a.wake:
				a.notify() // the last send's, before Close returns
			default:
			}
			return
		}
	}
}

// notify commits without waiting for the WAL flush: it writes no data a
// crash could lose (the listeners' connections would not survive one
// either). A failure is reported: receivers then find the rows at their
// next poll.
func (a *announcer) notify() {
	d := a.d
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(settleAsync)
	b.Queue(notify, d.channel, announcement(d.queue, d.scan.token))
	if err := d.exec(ctx, b); err != nil {
		d.report(&kernel.Error{Op: "notify", Err: fmt.Errorf("postgres: NOTIFY %q after a send (receivers poll): %w", d.channel, err)})
	}
}

// close sends what is pending and stops the goroutine, if it started.
func (a *announcer) close() {
	started := true
	a.start.Do(func() { started = false })
	if started {
		close(a.stop)
		<-a.done
	}
}
