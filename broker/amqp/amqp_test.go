package amqp_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/amqp"
	"github.com/swarm-go/swarm/swarmtest"
)

// sharedURL is the RabbitMQ service of the development machine and CI.
const sharedURL = "amqp://guest:guest@127.0.0.1:5672/"

// opener returns a swarmtest open function on the server at url that
// deletes, at the end of the test, the queues it opened (and their
// dead-letter and delay queues), so the shared server is left clean.
func opener(url string) func(testing.TB, string, ...swarm.Option) (swarm.Broker, error) {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
		key := fmt.Sprintf("%p/%s", t, queue)
		mu.Lock()
		first := !seen[key]
		seen[key] = true
		mu.Unlock()
		if first {
			// Registered before the broker's Close, so it runs after it.
			t.Cleanup(func() { deleteQueues(t, url, queue) })
		}
		return amqp.New(queue, amqp.WithURL(url), amqp.WithMaxPayload(64<<10), amqp.WithKernel(opts...))
	}
}

func deleteQueues(t testing.TB, url, queue string) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	names := []string{queue, queue + ".dlq", queue + ".dlq.dlq"}
	for ms := 1; ms <= 1<<16; ms <<= 1 {
		names = append(names, fmt.Sprintf("%s.delay.%d", queue, ms))
	}
	for _, n := range names {
		if _, err := ch.QueueDelete(n, false, false, false); err != nil {
			t.Logf("cleanup: delete %s: %v", n, err)
			return
		}
	}
}

func TestConformance(t *testing.T) {
	swarmtest.RequireTCP(t, "RabbitMQ", "127.0.0.1:5672")
	open := opener(sharedURL)
	swarmtest.Run(t, swarmtest.Config{
		Open: open,
		OpenDeadLetters: func(t testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return open(t, queue+".dlq", opts...)
		},
		Timeout: 10 * time.Second,
	})
}
