package kernel

import (
	"fmt"
	"log/slog"
	"time"
)

// Policy selects when a received message is settled.
type Policy int

const (
	// AtLeastOnce settles a message only when the application acks it; a
	// message not acked is delivered again.
	AtLeastOnce Policy = iota
	// AtMostOnce settles a message as soon as it is received; a crash while
	// handling it loses it.
	AtMostOnce
)

func (p Policy) String() string {
	if p == AtMostOnce {
		return "at-most-once"
	}
	return "at-least-once"
}

// Config is the kernel's settings. Build it with NewConfig from options
// (package swarm has one constructor per field); the zero value is not valid.
type Config struct {
	// Policy is AtLeastOnce (default) or AtMostOnce.
	Policy Policy
	// EmitCapacity is the buffer of each emit channel (default 256).
	EmitCapacity int
	// DeadLetterCapacity is the buffer of each emit dead-letter channel
	// (default 64). When it is full, further dead letters are reported on the
	// error side channel only.
	DeadLetterCapacity int
	// RecvCapacity is the buffer of each listen channel (default 256).
	RecvCapacity int
	// AckCapacity is the buffer of each ack channel, and the bound on
	// deliveries in flight (received, not yet settled) per broker, so that an
	// ack sent at any time, even after Close, never blocks (default 1024).
	AckCapacity int
	// Retry is the backoff between attempts of a failed send; its Attempts
	// bound the sends of one message (default: exponential, 5 attempts).
	Retry Backoff
	// Redelivery is the delay before a failed message is delivered again;
	// after Redelivery.Attempts deliveries it is dead-lettered (default:
	// exponential from 100ms, 5 attempts).
	Redelivery Backoff
	// PollFrequency caps the backoff after an empty receive, for drivers
	// that do not long-poll (default 1s).
	PollFrequency time.Duration
	// TimeToFlight is the lease a driver asks for on each delivery, where the
	// broker lets the client choose it (default 30s). The kernel extends it
	// for deliveries still being handled.
	TimeToFlight time.Duration
	// StdErr receives errors as *Error. Sends never block: when it is full or
	// nil, errors are logged to Logger instead.
	StdErr chan<- error
	// Logger logs errors that StdErr does not take (default slog.Default()).
	// Nothing logged holds a payload or a credential.
	Logger *slog.Logger
}

// Option sets one field of Config. It returns an error when its value is
// invalid, naming the setting.
type Option func(*Config) error

// NewConfig applies opts over the defaults and validates the result.
func NewConfig(opts ...Option) (Config, error) {
	c := Config{
		Policy:             AtLeastOnce,
		EmitCapacity:       256,
		DeadLetterCapacity: 64,
		RecvCapacity:       256,
		AckCapacity:        1024,
		Retry:              Exponential(20*time.Millisecond, 2*time.Second, 5),
		Redelivery:         Exponential(100*time.Millisecond, 30*time.Second, 5),
		PollFrequency:      time.Second,
		TimeToFlight:       30 * time.Second,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&c); err != nil {
			return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if err := c.validate(); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return c, nil
}

func (c *Config) validate() error {
	for _, f := range []struct {
		name string
		v    int
		min  int
	}{
		{"emit capacity", c.EmitCapacity, 0},
		{"dead-letter capacity", c.DeadLetterCapacity, 0},
		{"recv capacity", c.RecvCapacity, 0},
		{"ack capacity", c.AckCapacity, 1},
	} {
		if f.v < f.min {
			return fmt.Errorf("%s is %d, want %d or more", f.name, f.v, f.min)
		}
	}
	if c.PollFrequency <= 0 {
		return fmt.Errorf("poll frequency is %v, want a positive duration", c.PollFrequency)
	}
	if c.TimeToFlight <= 0 {
		return fmt.Errorf("time to flight is %v, want a positive duration", c.TimeToFlight)
	}
	if c.Policy != AtLeastOnce && c.Policy != AtMostOnce {
		return fmt.Errorf("policy %d is unknown", c.Policy)
	}
	return nil
}
