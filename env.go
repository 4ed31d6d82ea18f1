package swarm

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/swarm-go/swarm/kernel"
)

// Environment variables read by WithConfigFromEnv. Unset ones leave the
// setting as it is.
const (
	EnvPolicy             = "SWARM_POLICY"               // at-least-once | at-most-once
	EnvEmitCapacity       = "SWARM_EMIT_CAPACITY"        // integer
	EnvDeadLetterCapacity = "SWARM_DEAD_LETTER_CAPACITY" // integer
	EnvRecvCapacity       = "SWARM_RECV_CAPACITY"        // integer
	EnvAckCapacity        = "SWARM_ACK_CAPACITY"         // integer
	EnvRetryAttempts      = "SWARM_RETRY_ATTEMPTS"       // integer: sends per message
	EnvMaxAttempts        = "SWARM_MAX_ATTEMPTS"         // integer: deliveries before dead letter
	EnvPollFrequency      = "SWARM_POLL_FREQUENCY"       // Go duration, e.g. 500ms
	EnvTimeToFlight       = "SWARM_TIME_TO_FLIGHT"       // Go duration, e.g. 30s
)

// WithConfigFromEnv reads kernel settings from the SWARM_* environment
// variables (see the Env constants), for twelve-factor and serverless
// deployments where configuration comes from the environment. Put it after
// the options it may override. A malformed value fails the broker
// constructor with ErrConfig naming the variable and its value.
func WithConfigFromEnv() Option {
	return func(c *kernel.Config) error {
		if v, ok := os.LookupEnv(EnvPolicy); ok {
			switch v {
			case "at-least-once":
				c.Policy = kernel.AtLeastOnce
			case "at-most-once":
				c.Policy = kernel.AtMostOnce
			default:
				return fmt.Errorf("%s=%q: want at-least-once or at-most-once", EnvPolicy, v)
			}
		}
		ints := []struct {
			name string
			set  func(int)
		}{
			{EnvEmitCapacity, func(n int) { c.EmitCapacity = n }},
			{EnvDeadLetterCapacity, func(n int) { c.DeadLetterCapacity = n }},
			{EnvRecvCapacity, func(n int) { c.RecvCapacity = n }},
			{EnvAckCapacity, func(n int) { c.AckCapacity = n }},
			{EnvRetryAttempts, func(n int) { c.Retry = c.Retry.WithAttempts(n) }},
			{EnvMaxAttempts, func(n int) { c.Redelivery = c.Redelivery.WithAttempts(n) }},
		}
		for _, f := range ints {
			if v, ok := os.LookupEnv(f.name); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return fmt.Errorf("%s=%q: want a non-negative integer", f.name, v)
				}
				f.set(n)
			}
		}
		durations := []struct {
			name string
			dst  *time.Duration
		}{
			{EnvPollFrequency, &c.PollFrequency},
			{EnvTimeToFlight, &c.TimeToFlight},
		}
		for _, f := range durations {
			if v, ok := os.LookupEnv(f.name); ok {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return fmt.Errorf("%s=%q: want a positive Go duration such as 500ms or 30s", f.name, v)
				}
				*f.dst = d
			}
		}
		return nil
	}
}
