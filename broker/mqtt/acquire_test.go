package mqtt_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm/broker/mqtt"
	"github.com/swarm-go/swarm/swarmtest"
)

// TestOpenConcurrently opens brokers of one queue at once, which share
// one session: the one that finds the session another is still starting
// must wait for its connection (run with -race: reading it early is a data
// race, and a nil connection).
func TestOpenConcurrently(t *testing.T) {
	swarmtest.RequireTCP(t, "mosquitto", sharedAddr)
	for i := range 10 {
		queue := fmt.Sprintf("st-open-%d-%d", time.Now().UnixNano(), i)
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q, err := mqtt.NewEmitter(queue)
				if err != nil {
					t.Error(err)
					return
				}
				_ = q.Close()
			}()
		}
		wg.Wait()
	}
}
