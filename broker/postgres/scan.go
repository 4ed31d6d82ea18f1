package postgres

import (
	"crypto/rand"
	"sync"
	"time"
)

// A take reads the queue's key (queue, id) in order from where its scan
// starts, and walks over every entry it cannot take: rows locked by holds,
// rows not due yet, rows of sends not committed yet, and the rows acked
// since the table was last vacuumed, whose entries stay in the key until
// then. On a queue read as fast as it is written, that last kind is most
// of what a take from the queue's start reads: in the concurrent
// benchmark a take of 1,000 rows cost 2.8 ms from the start and 1.3 ms
// from past the last row taken, and the server's CPU per message fell by
// a third.
//
// So a take starts past the highest id any take of this broker returned
// (everything below it was taken, or could not be taken when a take went
// past it), and from the queue's start when rows may have become takeable
// below that mark since:
//   - another sender committed rows: its ids may interleave with those
//     taken (ids are drawn as rows are written, and a transaction commits
//     later). Every notification of the queue that is not this broker's
//     own announcement says so: another process's or broker's send, an
//     outbox commit, a release by a nack, a hold of another process
//     converted;
//   - this broker's own send committed while another of its sends ran (the
//     two drew interleaved ids), or while another sender's notification
//     arrived (the rows taken meanwhile may lie above this send's);
//   - this broker's nack released rows, or a delayed one fell due, or one
//     of its holds failed (its rows are takeable again at once);
//   - the LISTEN connection (re)connected: what was sent meanwhile went
//     unheard;
//   - the last take from the start is a poll interval old. That bounds how late
//     the rest is found: a lease that ran out, another process's delayed
//     nack falling due or hold that failed, a row written by hand without a
//     notification.
//
// A queue sent to by one sender at a time and read by one broker then
// never reads the acked rows more than once per poll interval.
type scanner struct {
	token string // marks this broker's own announcements

	mu       sync.Mutex
	last     int64     // the highest id a take returned
	behind   bool      // rows may have become takeable below last
	whole    time.Time // when the last take from the start began
	foreign  uint64    // notifications of the queue not this broker's
	sending  int       // own sends in flight
	overlaps uint64    // own sends begun while another was in flight
}

// from returns the id after which the next take starts: 0 for the queue's
// start, at least every poll.
func (s *scanner) from(now time.Time, poll time.Duration) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.behind || s.last == 0 || now.Sub(s.whole) >= poll {
		// Cleared before the take, not after: a notification that
		// arrives while it runs may be of rows its snapshot missed.
		s.behind = false
		s.whole = now
		return 0
	}
	return s.last
}

// took records the highest id a take that started after from returned
// (an empty take records nothing). A take from the start sets the mark, so
// that ids starting over (a sequence reset) are followed.
func (s *scanner) took(from, last int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if from == 0 {
		s.last = last
	} else {
		s.last = max(s.last, last)
	}
}

// fallBehind makes the next take start from the queue's start.
func (s *scanner) fallBehind() {
	s.mu.Lock()
	s.behind = true
	s.mu.Unlock()
}

// notified records a notification of the queue; sender is the token its
// payload carried ("" when none).
func (s *scanner) notified(sender string) {
	if sender != "" && sender == s.token {
		return
	}
	s.mu.Lock()
	s.foreign++
	s.behind = true
	s.mu.Unlock()
}

// sendMark is what a send saw when it began (see sendBegin).
type sendMark struct {
	foreign, overlaps uint64
	overlapped        bool
}

// sendBegin records that an own send begins; sendEnd, with the mark,
// that it ended.
func (s *scanner) sendBegin() sendMark {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sending++
	m := sendMark{foreign: s.foreign, overlaps: s.overlaps}
	if s.sending > 1 {
		s.overlaps++
		m.overlapped = true
	}
	return m
}

// sendEnd records that an own send ended (committed, failed, or in doubt:
// all are treated alike).
func (s *scanner) sendEnd(m sendMark) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sending--
	if m.overlapped || m.overlaps != s.overlaps || m.foreign != s.foreign {
		s.behind = true
	}
}

// announcement is the payload of the notification after a send of queue
// by the broker of token.
func announcement(queue, token string) string {
	return queue + tokenSep + token
}

// parsePayload splits a notification's payload into the queue and the
// sender's token ("" when it carries none: not an announcement of a send,
// but a nack's, an outbox's, one written by hand).
func parsePayload(p string) (queue, sender string) {
	if i := len(p) - tokenLen - len(tokenSep); i >= 0 && p[i:i+len(tokenSep)] == tokenSep {
		return p[:i], p[i+len(tokenSep):]
	}
	return p, ""
}

// tokenSep separates the queue from the sender's token in an announcement;
// a control character, which a queue name is unlikely to hold, and then
// only followed by exactly tokenLen more bytes would its name be misread.
const tokenSep = "\x1f"

// tokenLen is the length of a token.
const tokenLen = 16

// newToken returns a broker's token: random, so that no other broker,
// here or in another process, announces with it.
func newToken() string {
	return rand.Text()[:tokenLen]
}
