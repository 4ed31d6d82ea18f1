package contender

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm/bench/workload"
	"github.com/swarm-go/swarm/broker/nats"
)

// natsAddr is the NATS server with JetStream the tests use too.
const natsAddr = "127.0.0.1:4222"

func init() {
	register(func(int) Broker {
		url := "nats://" + natsAddr
		return Broker{
			Name: "nats", Order: 20,
			Raw: NATSRaw(url), Swarm: NATSSwarm(url), Watermill: NATSWatermill(url),
			Setup: func() (func(), error) { return requireTCP("NATS server", natsAddr) },
		}
	})
}

// natsPrefetch is how many messages the raw pull consumer keeps requested
// ahead of the application.
const natsPrefetch = 512

// NATSRaw is nats.go's JetStream API used as its docs recommend for
// throughput: PublishAsync with one wait for all the acks, and a pull
// consumer's Messages iterator (continuous pulls with prefetch) with
// per-message async acks, flushed once at the end. The stream is a file
// work queue, as swarm's.
func NATSRaw(url string) workload.Factory {
	return func(stream string) (workload.Contender, error) {
		nc, err := natsgo.Connect(url)
		if err != nil {
			return nil, fmt.Errorf("nats raw: connect %s: %w", url, err)
		}
		r := &natsRaw{nc: nc, subject: stream}
		r.js, err = jetstream.New(nc,
			jetstream.WithPublishAsyncMaxPending(4096),
			jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *natsgo.Msg, error) { r.failed.Add(1) }))
		if err == nil {
			err = r.setup(stream)
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("nats raw: stream %s on %s: %w", stream, url, err)
		}
		return withCleanup(r, func() { dropNATSStreams(url, stream) }), nil
	}
}

type natsRaw struct {
	nc      *natsgo.Conn
	js      jetstream.JetStream
	cons    jetstream.Consumer
	subject string
	failed  atomic.Int64 // async publishes the stream did not acknowledge
}

func (r *natsRaw) setup(stream string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := r.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{stream},
		Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy,
	})
	if err != nil {
		return err
	}
	r.cons, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1,
	})
	return err
}

func (r *natsRaw) Publish(ctx context.Context, n int, msg func(int) workload.Payload) error {
	for i := range n {
		if _, err := r.js.PublishAsync(r.subject, workload.Encode(msg(i))); err != nil {
			return fmt.Errorf("publish to %s: %w", r.subject, err)
		}
	}
	select {
	case <-r.js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	if f := r.failed.Load(); f > 0 {
		return fmt.Errorf("%d publishes to %s were not acknowledged", f, r.subject)
	}
	return nil
}

func (r *natsRaw) Consume(ctx context.Context, n int, got func(workload.Payload)) error {
	if _, ok := ctx.Deadline(); !ok {
		// nats.go's context-taking calls require a deadline.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
	}
	it, err := r.cons.Messages(jetstream.PullMaxMessages(natsPrefetch))
	if err != nil {
		return fmt.Errorf("pull from %s: %w", r.subject, err)
	}
	defer it.Stop()
	for range n {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("pull from %s: %w", r.subject, err)
		}
		p, err := workload.Decode(m.Data())
		if err != nil {
			return err
		}
		got(p)
		if err := m.Ack(); err != nil {
			return fmt.Errorf("ack on %s: %w", r.subject, err)
		}
	}
	return r.nc.FlushWithContext(ctx)
}

func (r *natsRaw) Close() error {
	r.nc.Close()
	return nil
}

// NATSSwarm is swarm's NATS JetStream broker with its defaults.
func NATSSwarm(url string) workload.Factory {
	return func(queue string) (workload.Contender, error) {
		q, err := nats.New(queue, nats.WithURL(url))
		if err != nil {
			return nil, err
		}
		return withCleanup(NewSwarm(q), func() { dropNATSStreams(url, queue, queue+"_dlq") }), nil
	}
}

// NATSWatermill is watermill-nats's JetStream publisher and subscriber,
// each on its own connection, with asynchronous acks (its fastest setting;
// the default waits for each ack's confirmation).
func NATSWatermill(url string) workload.Factory {
	return func(topic string) (workload.Contender, error) {
		pub, err := wmjs.NewPublisher(wmjs.PublisherConfig{URL: url, Logger: watermill.NopLogger{}})
		if err != nil {
			return nil, err
		}
		sub, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{URL: url, Logger: watermill.NopLogger{}, AckAsync: true})
		if err == nil {
			err = sub.SubscribeInitialize(topic) // the stream, before anything is published
			if err != nil {
				_ = sub.Close()
			}
		}
		if err != nil {
			_ = pub.Close()
			return nil, err
		}
		return withCleanup(&Watermill{pub: pub, sub: sub, topic: topic}, func() { dropNATSStreams(url, topic) }), nil
	}
}

// dropNATSStreams deletes the streams a run created, best effort: a failure
// only leaves a stream behind.
func dropNATSStreams(url string, names ...string) {
	nc, err := natsgo.Connect(url)
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, name := range names {
		_ = js.DeleteStream(ctx, name)
	}
}
