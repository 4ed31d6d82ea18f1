package contender

import (
	"sort"
	"sync"

	"github.com/swarm-go/swarm/bench/workload"
)

// Broker is one row group of the table: the three ways to drive one broker.
// A nil factory is a contender that does not exist for this broker (no
// Watermill adapter, say) and shows as "-".
type Broker struct {
	// Name is the broker's name in the table.
	Name string
	// Order sorts the table (lower first); ties sort by name.
	Order int
	// Raw, Swarm and Watermill open a contender on a fresh queue.
	Raw, Swarm, Watermill workload.Factory
	// Setup makes sure the broker is reachable (starting an emulator if it
	// must) and returns a function that releases what it started. An error
	// skips the broker with that error as the note.
	Setup func() (release func(), err error)
	// WatermillTarget is the ratio to Watermill the swarm contender is to
	// reach (0: 1, ahead of it).
	WatermillTarget float64
	// Scale divides the message count of every run (0 and 1: the full
	// count), for brokers slow enough (emulators) that the full count would
	// take minutes.
	Scale int
}

var (
	mu       sync.Mutex
	registry []func(n int) Broker
)

// register adds a broker; n is the message count of the 100-byte runs, for
// contenders that size a buffer to hold a whole run.
func register(b func(n int) Broker) {
	mu.Lock()
	defer mu.Unlock()
	registry = append(registry, b)
}

// Brokers returns every registered broker, in table order.
func Brokers(n int) []Broker {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Broker, 0, len(registry))
	for _, b := range registry {
		out = append(out, b(n))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Name < out[j].Name
	})
	return out
}
