package swarm

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
)

// Opener opens a broker from a URL. Broker packages register one per scheme.
type Opener func(u *url.URL, opts ...Option) (Broker, error)

var openers sync.Map // scheme -> Opener

// Register makes a URL scheme available to Open. Broker packages call it from
// init, so importing a broker (import _ ".../broker/nats") registers it. It
// panics when the scheme is registered twice, as database/sql.Register does.
func Register(scheme string, open Opener) {
	if open == nil {
		panic("swarm: Register of a nil Opener for scheme " + scheme)
	}
	if _, dup := openers.LoadOrStore(scheme, open); dup {
		panic("swarm: Register called twice for scheme " + scheme)
	}
}

// Open opens the broker a URL names, such as "mem://orders" or
// "nats://127.0.0.1:4222/orders", with kernel options. The scheme's broker
// package must be imported. The error names the scheme when it is not.
func Open(rawURL string, opts ...Option) (Broker, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// *url.Error repeats the URL, password included: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("swarm: open: parse URL: %w", err)
	}
	v, ok := openers.Load(u.Scheme)
	if !ok {
		return nil, fmt.Errorf("swarm: open: no broker registered for scheme %q (registered: %v); import its package, e.g. _ \"github.com/swarm-go/swarm/broker/memory\"",
			u.Scheme, Schemes())
	}
	return v.(Opener)(u, opts...)
}

// Schemes lists the registered URL schemes, sorted.
func Schemes() []string {
	var s []string
	openers.Range(func(k, _ any) bool { s = append(s, k.(string)); return true })
	slices.Sort(s)
	return s
}
