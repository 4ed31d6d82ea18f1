package swarm

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/swarm-go/swarm/kernel"
)

// Option configures the kernel of a broker. Pass options to a broker's
// WithKernel option or to Open. An option with an invalid value makes the
// broker constructor fail with ErrConfig naming the setting.
type Option = kernel.Option

// Backoff is a retry schedule: a number of attempts and the wait before each.
type Backoff = kernel.Backoff

// NoBackoff is one attempt and no retry.
func NoBackoff() Backoff { return kernel.None() }

// ConstantBackoff is up to attempts attempts, delay apart.
func ConstantBackoff(delay time.Duration, attempts int) Backoff {
	return kernel.Constant(delay, attempts)
}

// ExponentialBackoff is up to attempts attempts; the wait doubles from base up
// to max, each drawn at random from its upper half (jitter).
func ExponentialBackoff(base, max time.Duration, attempts int) Backoff {
	return kernel.Exponential(base, max, attempts)
}

// WithPolicyAtLeastOnce settles each message only when the application acks
// it (the default), with channels buffered to n.
func WithPolicyAtLeastOnce(n int) Option {
	return policy(kernel.AtLeastOnce, n)
}

// WithPolicyAtMostOnce settles each message as soon as it is received, with
// channels buffered to n. A crash while handling a message loses it; acks
// are accepted and ignored.
func WithPolicyAtMostOnce(n int) Option {
	return policy(kernel.AtMostOnce, n)
}

func policy(p kernel.Policy, n int) Option {
	return func(c *kernel.Config) error {
		if n < 0 {
			return fmt.Errorf("policy %v capacity is %d, want 0 or more", p, n)
		}
		c.Policy = p
		c.EmitCapacity, c.RecvCapacity = n, n
		c.AckCapacity = max(n, 1)
		return nil
	}
}

// WithEmitCapacity sets the buffer of each emit channel (default 256).
func WithEmitCapacity(n int) Option {
	return capacity("emit", n, func(c *kernel.Config) { c.EmitCapacity = n })
}

// WithDeadLetterCapacity sets the buffer of each emit dead-letter channel
// (default 64). When it is full, dead letters are reported on the error side
// channel only.
func WithDeadLetterCapacity(n int) Option {
	return capacity("dead-letter", n, func(c *kernel.Config) { c.DeadLetterCapacity = n })
}

// WithRecvCapacity sets the buffer of each listen channel (default 256).
func WithRecvCapacity(n int) Option {
	return capacity("recv", n, func(c *kernel.Config) { c.RecvCapacity = n })
}

// WithAckCapacity sets the buffer of each ack channel, which is also the
// bound on deliveries in flight (received and not yet settled) per broker
// (default 1024).
func WithAckCapacity(n int) Option {
	return capacity("ack", n, func(c *kernel.Config) { c.AckCapacity = n })
}

func capacity(name string, n int, set func(*kernel.Config)) Option {
	return func(c *kernel.Config) error {
		if n < 0 {
			return fmt.Errorf("%s capacity is %d, want 0 or more", name, n)
		}
		set(c)
		return nil
	}
}

// WithRetry sets how failed sends are retried (default: ExponentialBackoff
// from 20ms to 2s, 5 attempts). A send that exhausts it goes to the emit
// channel's dead-letter channel.
func WithRetry(b Backoff) Option {
	return func(c *kernel.Config) error { c.Retry = b; return nil }
}

// WithRedelivery sets the delay before a failed message is delivered again,
// and the number of deliveries after which it is dead-lettered (default:
// ExponentialBackoff from 100ms to 30s, 5 attempts).
func WithRedelivery(b Backoff) Option {
	return func(c *kernel.Config) error { c.Redelivery = b; return nil }
}

// WithPollFrequency caps the wait between receives from an empty queue on
// brokers that are polled (default 1s). A full batch is always followed by
// an immediate receive.
func WithPollFrequency(d time.Duration) Option {
	return func(c *kernel.Config) error { c.PollFrequency = d; return nil }
}

// WithTimeToFlight sets the lease of a delivery on brokers that let the
// client choose it (default 30s): how long a message stays hidden from other
// consumers before it is delivered again. The kernel extends it while the
// application still holds the message.
func WithTimeToFlight(d time.Duration) Option {
	return func(c *kernel.Config) error { c.TimeToFlight = d; return nil }
}

// WithStdErr sends the kernel's errors (as *Error) to ch. Sends never block:
// when ch is full, the error is logged instead.
func WithStdErr(ch chan<- error) Option {
	return func(c *kernel.Config) error { c.StdErr = ch; return nil }
}

// WithLogger sets the logger for errors that WithStdErr does not take
// (default slog.Default()). Nothing logged holds a payload or a credential.
func WithLogger(l *slog.Logger) Option {
	return func(c *kernel.Config) error { c.Logger = l; return nil }
}
