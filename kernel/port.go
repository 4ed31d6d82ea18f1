package kernel

import (
	"context"
	"errors"
	"time"
)

// Envelope is one message as it crosses the driver port: the encoded payload
// and what the broker carries beside it.
type Envelope struct {
	// Category routes the message to its typed channel. Drivers carry it as a
	// broker attribute or header and give it back on receive.
	Category string
	// ID identifies the message. The kernel sets a unique one on emit; a
	// receiver returns the broker's id (or the emitted one where the broker
	// keeps it).
	ID string
	// Attrs are string attributes carried beside the payload. Drivers
	// round-trip them; nil means none.
	Attrs map[string]string
	// Payload is the encoded message.
	Payload []byte
	// Value, when not nil, is the message itself, not encoded: emitters set
	// it instead of Payload for a driver that declares Capabilities.Values.
	// Such a driver keeps it as it is; a listener takes the object from it
	// when it is of the listener's type and asks it for its payload
	// otherwise.
	Value Value
	// Attempt counts deliveries of this message, 1 on the first. Set by
	// receivers; ignored by senders.
	Attempt int
	// Handle is the receiver's token for settling this delivery (Ack, Nack,
	// Extend, DeadLetter). Opaque to the kernel.
	Handle any
}

// Sender publishes batches. Implementations must be safe for concurrent use.
type Sender interface {
	// Send publishes batch in order and returns nil when every envelope was
	// accepted by the broker, or a slice of len(batch) errors with nil at the
	// positions that were accepted. The kernel retries the failed positions
	// unless their error is marked Permanent. The batch never exceeds the
	// driver's MaxBatch and MaxBatchBytes. The driver may keep the
	// payloads and values (the in-process broker does): nothing writes to
	// them once they are handed to Send. The batch slice itself is reused.
	Send(ctx context.Context, batch []Envelope) []error
}

// AsyncSender is a Sender that can hand a batch to the broker and learn the
// outcome later (NATS's asynchronous publish, Kafka's producer). The kernel
// then keeps a few batches of one emit channel in flight instead of waiting
// for each before sending the next, so the connection never idles.
type AsyncSender interface {
	Sender
	// SendAsync starts sending batch and returns a function that waits for
	// the outcome, with Send's results. Batches started one after another
	// must reach the broker in that order, as Send's envelopes do. batch is
	// not touched after wait returns; wait is called exactly once.
	SendAsync(ctx context.Context, batch []Envelope) (wait func() []error)
}

// Receiver consumes batches. Implementations must be safe for concurrent use:
// the kernel receives, acks and nacks from different goroutines.
type Receiver interface {
	// Receive returns up to max deliveries. It may block for a short wait
	// (a long poll) and may return none; it returns when ctx is done.
	Receive(ctx context.Context, max int) ([]Envelope, error)
	// Ack settles deliveries as done: the broker never delivers them again.
	Ack(ctx context.Context, handles []any) error
	// Nack releases deliveries back to the broker, to be delivered again
	// after delay (at once when delay is 0 or the broker has no delay).
	Nack(ctx context.Context, handles []any, delay time.Duration) error
}

// Extender is implemented by receivers whose deliveries hold a lease that can
// be extended (SQS visibility, JetStream in-progress).
type Extender interface {
	// Extend pushes the lease of each delivery to lease from now.
	Extend(ctx context.Context, handles []any, lease time.Duration) error
}

// DeadLetterer is implemented by receivers with a dead-letter destination.
// The kernel dead-letters a delivery whose attempts are exhausted or whose
// payload cannot be decoded or routed.
type DeadLetterer interface {
	// DeadLetter moves deliveries to the dead-letter destination and settles
	// them on the source.
	DeadLetter(ctx context.Context, handles []any) error
}

// Driver is a broker adapter: a Sender, a Receiver or both, with the
// capabilities it declares. Optional behaviour is discovered by interface:
// Extender, DeadLetterer, and io.Closer (called once by Kernel.Close after
// everything is flushed and released).
type Driver interface {
	Capabilities() Capabilities
}

// Capabilities declare what a driver and its broker support. The kernel sizes
// batches and timers from them, and the conformance suite (swarmtest) runs or
// skips checks by them.
type Capabilities struct {
	// Ordered: messages sent in one batch sequence are received in that order
	// by a single consumer.
	Ordered bool
	// Persistent: accepted messages survive a broker restart.
	Persistent bool
	// Redelivery: unsettled and nacked deliveries come back with a higher
	// Attempt.
	Redelivery bool
	// Delay: Nack honours its delay. Without it the kernel waits out a failed
	// delivery's backoff itself, holding the delivery (and its in-flight
	// slot), then nacks it with no delay.
	Delay bool
	// ConsumerGroups: several receivers on one queue compete for messages
	// rather than each receiving all of them.
	ConsumerGroups bool
	// Partitioned: competing receivers split the queue by partition (Kafka,
	// Kinesis shards); a receiver owns its partitions while it lives, even
	// when it stops consuming, so a competitor cannot take their messages.
	Partitioned bool
	// LongPoll: Receive waits for messages itself, so the kernel adds no
	// backoff after an empty receive.
	LongPoll bool
	// Receivers is how many receive loops the kernel runs at once (default
	// 1); more hide the round trip of brokers polled over the network.
	Receivers int
	// SendConcurrency is how many Send calls (of at most MaxBatch each)
	// the kernel keeps going at once for one emit channel when the broker
	// does not promise order (default 1): each starts as soon as one ends.
	SendConcurrency int
	// SettleConcurrency is how many Ack calls the kernel makes at once for
	// one listener (default 1). Brokers whose acks are separate round trips
	// of at most MaxBatch each (SQS's DeleteMessageBatch of 10) need several
	// at once to keep up with their receivers; the listener then hands the
	// kernel up to MaxBatch*SettleConcurrency acks at a time.
	SettleConcurrency int
	// MaxBatch bounds the envelopes per Send and per Receive (0: 1 per call).
	MaxBatch int
	// MaxBatchBytes bounds the summed payload bytes per Send (0: none).
	MaxBatchBytes int
	// MaxPayload is the largest payload the broker accepts (0: none). Larger
	// payloads fail at once with ErrTooLarge.
	MaxPayload int
	// Lease is how long a delivery stays invisible to other consumers before
	// the broker redelivers it; 0 when deliveries have no lease. With an
	// Extender the kernel extends the lease of slow deliveries.
	Lease time.Duration
	// Values: the driver carries Envelope.Value in process instead of a
	// payload (the in-process broker, when asked to), so typed emitters
	// skip encoding. MaxPayload and MaxBatchBytes do not apply to values.
	Values bool
}

// Value is a message carried without being encoded (see
// Capabilities.Values).
type Value interface {
	// Encode returns the payload the value would have had: the listener of
	// another type, or of octets, decodes it as it would any payload.
	Encode() ([]byte, error)
}

// Permanent marks err as not worth retrying: the kernel dead-letters the
// envelope at once instead of backing off.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p) || errors.Is(err, ErrTooLarge)
}

type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }
