package kernel

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Package swarm re-exports each under the same name; test
// for them with errors.Is.
var (
	// ErrClosed: the broker was closed; the value was not sent or the
	// delivery was released back to the broker.
	ErrClosed = errors.New("swarm: broker closed")
	// ErrTooLarge: the payload exceeds what the broker accepts.
	ErrTooLarge = errors.New("swarm: message too large for the broker")
	// ErrUnknownCategory: a received message names a category no typed
	// channel listens to on this broker.
	ErrUnknownCategory = errors.New("swarm: no listener for category")
	// ErrDecode: a received payload does not decode to the listener's type.
	ErrDecode = errors.New("swarm: payload does not decode")
	// ErrEncode: a value could not be encoded, so it was never sent.
	ErrEncode = errors.New("swarm: value does not encode")
	// ErrCategoryConflict: two different types claim one category on one
	// broker, or a category already has a listener.
	ErrCategoryConflict = errors.New("swarm: category conflict")
	// ErrFailed: the application failed a message without giving a reason.
	ErrFailed = errors.New("swarm: message failed by the application")
	// ErrMaxAttempts: a message failed or expired on every allowed attempt
	// and was dead-lettered.
	ErrMaxAttempts = errors.New("swarm: delivery attempts exhausted")
	// ErrNoDeadLetter: the broker has no dead-letter destination, so a
	// message that had to be dead-lettered was settled (dropped) and only
	// this report remains.
	ErrNoDeadLetter = errors.New("swarm: broker has no dead-letter destination; message dropped")
	// ErrConfig: a kernel or broker setting is invalid.
	ErrConfig = errors.New("swarm: invalid configuration")
)

// Error is what the kernel reports on the error side channel: the operation,
// where it happened and the cause. It never holds the payload.
type Error struct {
	// Op is the kernel operation: "emit", "receive", "decode", "route",
	// "ack", "nack", "extend", "dead-letter", "release", or "connection" for
	// what a broker's client reports on its own (a lost connection, ...).
	Op string
	// Queue names the broker and queue, as the driver was opened.
	Queue string
	// Category of the message, when known.
	Category string
	// ID is the message id, when known.
	ID string
	// Attempt is the delivery count, when known.
	Attempt int
	// Err is the cause.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("swarm: ")
	b.WriteString(e.Op)
	if e.Category != "" {
		b.WriteString(" category ")
		b.WriteString(strconv.Quote(e.Category))
	}
	if e.ID != "" {
		b.WriteString(" id ")
		b.WriteString(strconv.Quote(e.ID))
	}
	if e.Attempt > 0 {
		b.WriteString(" attempt ")
		b.WriteString(strconv.Itoa(e.Attempt))
	}
	if e.Queue != "" {
		b.WriteString(" on ")
		b.WriteString(e.Queue)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "swarm: "))
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
