package sqs_test

import (
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/sqs"
	"github.com/swarm-go/swarm/broker/sqs/sqstest"
	"github.com/swarm-go/swarm/swarmtest"
)

// opener returns a swarmtest opener of queues named queue+suffix on the
// emulator.
func opener(em *sqstest.Emulator, suffix string, more ...sqs.Option) func(testing.TB, string, ...swarm.Option) (swarm.Broker, error) {
	return func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
		kopts := append([]swarm.Option{swarm.WithTimeToFlight(sqstest.Lease)}, opts...)
		return sqs.New(queue+suffix, emulatorOpts(em, append(more, sqs.WithKernel(kopts...))...)...)
	}
}

func emulatorOpts(em *sqstest.Emulator, more ...sqs.Option) []sqs.Option {
	return append([]sqs.Option{
		sqs.WithEndpoint(em.Endpoint),
		sqs.WithRegion(sqstest.Region),
		sqs.WithCredentials(sqstest.Credentials()),
		// Close waits for the polls in flight: a short wait keeps the
		// suite's many Close calls quick.
		sqs.WithWaitTime(time.Second),
	}, more...)
}

// The restart check is skipped: fauxqs keeps its queues in memory only, so
// a restart of the emulator is not a broker restart with persistence.
func TestConformanceStandard(t *testing.T) {
	em := sqstest.Start(t)
	swarmtest.Run(t, swarmtest.Config{
		Open:            opener(em, ""),
		OpenDeadLetters: opener(em, "-dlq"),
	})
}

// The FIFO run is in internal/fifoconformance, a test binary of its own.
