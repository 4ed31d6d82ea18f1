// Package swarm carries typed Go channels over message brokers.
//
// An application emits on a chan<- T and listens on a <-chan Msg[T]; the
// broker behind them (in-process, NATS, Redis, Kafka, RabbitMQ, MQTT,
// PostgreSQL, SQS, ...) is chosen by one constructor or one URL:
//
//	q, err := memory.New("orders")      // or swarm.Open("nats://host/orders")
//	enq, dlq := emit.Typed[Order](q)     // chan<- Order, <-chan Order
//	deq, ack := listen.Typed[Order](q)   // <-chan swarm.Msg[Order], chan<- swarm.Msg[Order]
//	for msg := range deq { handle(msg.Object); ack <- msg }
//
// This package holds what every broker shares: Msg, Event and Meta, codecs,
// the kernel options, the errors, and Open. Packages emit and listen make the
// channels; package kernel runs them.
package swarm

import (
	"github.com/swarm-go/swarm/kernel"
)

// Broker is an open connection to a queue of a message broker: what emit and
// listen build typed channels on. Every broker package returns one, and so
// does Open.
type Broker interface {
	// Close flushes emits already handed over, settles acks already sent,
	// releases unsettled deliveries to the broker, closes the channels the
	// library writes (listen and dead-letter channels) and disconnects. It
	// never closes the channels the application writes. Values sent on an
	// emit channel after Close are not sent; each is reported as ErrClosed
	// until the application closes that channel.
	Close() error
	// Kernel returns the kernel running the broker's channels.
	Kernel() *kernel.Kernel
}

// Msg is one delivery of a T.
type Msg[T any] struct {
	// Object is the decoded message.
	Object T
	// Err is nil when the message is acked, the cause when it is failed.
	Err error
	// Digest identifies the delivery to the broker that received it.
	Digest kernel.Digest
}

// Fail returns msg marked as failed with err. Sending it on the ack channel
// asks the broker to deliver the message again after the redelivery backoff,
// or dead-letters it once its attempts are exhausted. A nil err is recorded
// as ErrFailed.
func (msg Msg[T]) Fail(err error) Msg[T] {
	if err == nil {
		err = ErrFailed
	}
	msg.Err = err
	return msg
}

// Attempt counts the deliveries of this message, 1 on the first.
func (msg Msg[T]) Attempt() int {
	if env := msg.Digest.Envelope(); env != nil {
		return env.Attempt
	}
	return 0
}

// ID is the broker's id of the message.
func (msg Msg[T]) ID() string {
	if env := msg.Digest.Envelope(); env != nil {
		return env.ID
	}
	return ""
}

// Category is the category the message was routed by.
func (msg Msg[T]) Category() string {
	if env := msg.Digest.Envelope(); env != nil {
		return env.Category
	}
	return ""
}

// Attrs are the attributes the broker carried beside the payload. The map is
// shared: do not modify it.
func (msg Msg[T]) Attrs() map[string]string {
	if env := msg.Digest.Envelope(); env != nil {
		return env.Attrs
	}
	return nil
}

// Errors reported by the kernel, on the error side channel (WithStdErr) as
// *Error, by Enq, and to dead-letter channels. Test with errors.Is.
var (
	ErrClosed           = kernel.ErrClosed
	ErrTooLarge         = kernel.ErrTooLarge
	ErrUnknownCategory  = kernel.ErrUnknownCategory
	ErrDecode           = kernel.ErrDecode
	ErrEncode           = kernel.ErrEncode
	ErrCategoryConflict = kernel.ErrCategoryConflict
	ErrFailed           = kernel.ErrFailed
	ErrMaxAttempts      = kernel.ErrMaxAttempts
	ErrNoDeadLetter     = kernel.ErrNoDeadLetter
	ErrConfig           = kernel.ErrConfig
)

// Error is a report of the kernel: the operation, the queue, the category
// and message id when known, and the cause. It never holds the payload.
type Error = kernel.Error
