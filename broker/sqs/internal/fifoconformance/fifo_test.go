// Package fifoconformance runs the conformance suite on a FIFO queue. It is
// a package of its own so that it runs in its own test binary, beside the
// standard-queue run of package sqs: the suite's leak check counts every
// swarm goroutine of its process, so the two runs cannot share one.
package fifoconformance

import (
	"testing"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/sqs"
	"github.com/swarm-go/swarm/broker/sqs/sqstest"
	"github.com/swarm-go/swarm/swarmtest"
)

// TestConformanceFIFO short-polls (the standard run long-polls): fauxqs
// hands out one message per group per receive, and the reopen check closes
// a consumer about a hundred times, each Close waiting for the polls in
// flight. The restart check is skipped, as for the standard queue.
func TestConformanceFIFO(t *testing.T) {
	em := sqstest.Start(t)
	open := func(suffix string) func(testing.TB, string, ...swarm.Option) (swarm.Broker, error) {
		return func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			return sqs.New(queue+suffix, sqs.WithEndpoint(em.Endpoint), sqs.WithRegion(sqstest.Region),
				sqs.WithCredentials(sqstest.Credentials()), sqs.WithWaitTime(0),
				sqs.WithKernel(append([]swarm.Option{swarm.WithTimeToFlight(sqstest.Lease)}, opts...)...))
		}
	}
	swarmtest.Run(t, swarmtest.Config{
		Open:            open(".fifo"),
		OpenDeadLetters: open("-dlq.fifo"),
	})
}
