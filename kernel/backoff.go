package kernel

import (
	"math/rand/v2"
	"time"
)

// Backoff is a retry schedule: how many attempts, and how long to wait before
// each one. Build it with None, Constant or Exponential.
type Backoff struct {
	attempts int
	base     time.Duration
	max      time.Duration
	exp      bool
}

// None makes a single attempt with no retry.
func None() Backoff { return Backoff{attempts: 1} }

// Constant makes up to attempts attempts, delay apart.
func Constant(delay time.Duration, attempts int) Backoff {
	return Backoff{attempts: attempts, base: delay, max: delay}
}

// Exponential makes up to attempts attempts. The wait before attempt n+1 is
// drawn uniformly from [d/2, d] where d = base*2^(n-1) capped at max ("equal
// jitter"), so retries of many clients spread out without ever collapsing to
// zero.
func Exponential(base, max time.Duration, attempts int) Backoff {
	return Backoff{attempts: attempts, base: base, max: max, exp: true}
}

// Attempts is the total number of attempts, at least 1.
func (b Backoff) Attempts() int { return max(b.attempts, 1) }

// Delay is the wait after attempt n (1-based) failed.
func (b Backoff) Delay(n int) time.Duration {
	if !b.exp {
		return b.base
	}
	d := b.base
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// WithAttempts returns b with its number of attempts set to n.
func (b Backoff) WithAttempts(n int) Backoff {
	b.attempts = n
	return b
}
