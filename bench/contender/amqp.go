package contender

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/swarm-go/swarm/bench/workload"
	"github.com/swarm-go/swarm/broker/amqp"
)

// amqpURL is the shared RabbitMQ the tests use.
const amqpURL = "amqp://guest:guest@127.0.0.1:5672/"

// Raw AMQP tuning: confirms outstanding before the publisher waits for the
// oldest, deliveries prefetched, deliveries per multiple ack.
const (
	amqpConfirmWindow = 1000
	amqpPrefetch      = 1000
	amqpAckEvery      = 100
)

func init() {
	register(func(int) Broker {
		return Broker{Name: "amqp", Order: 40, Raw: AMQPRaw, Swarm: AMQPSwarm, Watermill: AMQPWatermill,
			Setup: func() (func(), error) { return requireTCP("RabbitMQ", "127.0.0.1:5672") }}
	})
}

// AMQPRaw is amqp091-go used as RabbitMQ recommends for throughput with
// safety: a durable queue, persistent messages, publisher confirms with
// many outstanding (confirms are cumulative, so waiting on the oldest is
// enough), a consumer with a prefetch and multiple acks; publisher and
// consumer on connections of their own.
func AMQPRaw(queue string) (workload.Contender, error) {
	pub, err := amqp091.Dial(amqpURL)
	if err != nil {
		return nil, fmt.Errorf("amqp raw: dial: %w", err)
	}
	ch, err := pub.Channel()
	if err == nil {
		_, err = ch.QueueDeclare(queue, true, false, false, false, nil)
	}
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		_ = pub.Close()
		return nil, fmt.Errorf("amqp raw: declare %s: %w", queue, err)
	}
	sub, err := amqp091.Dial(amqpURL)
	if err != nil {
		_ = pub.Close()
		return nil, fmt.Errorf("amqp raw: dial: %w", err)
	}
	return &amqpRaw{pub: pub, sub: sub, ch: ch, queue: queue}, nil
}

type amqpRaw struct {
	pub, sub *amqp091.Connection
	ch       *amqp091.Channel
	queue    string
}

func (r *amqpRaw) Publish(ctx context.Context, n int, msg func(int) workload.Payload) error {
	window := make([]*amqp091.DeferredConfirmation, 0, amqpConfirmWindow)
	settle := func(dcs []*amqp091.DeferredConfirmation) error {
		for _, dc := range dcs {
			ok, err := dc.WaitContext(ctx)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("amqp raw: publish %d nacked by the server", dc.DeliveryTag)
			}
		}
		return nil
	}
	for i := range n {
		dc, err := r.ch.PublishWithDeferredConfirmWithContext(ctx, "", r.queue, false, false, amqp091.Publishing{
			ContentType: "application/json", DeliveryMode: amqp091.Persistent, Body: workload.Encode(msg(i)),
		})
		if err != nil {
			return fmt.Errorf("amqp raw: publish: %w", err)
		}
		window = append(window, dc)
		if len(window) == amqpConfirmWindow {
			// Half the window settled keeps the other half in flight.
			if err := settle(window[:amqpConfirmWindow/2]); err != nil {
				return err
			}
			window = append(window[:0], window[amqpConfirmWindow/2:]...)
		}
	}
	return settle(window)
}

func (r *amqpRaw) Consume(ctx context.Context, n int, got func(workload.Payload)) error {
	ch, err := r.sub.Channel()
	if err != nil {
		return fmt.Errorf("amqp raw: channel: %w", err)
	}
	defer ch.Close()
	if err := ch.Qos(amqpPrefetch, 0, false); err != nil {
		return fmt.Errorf("amqp raw: qos: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, r.queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("amqp raw: consume %s: %w", r.queue, err)
	}
	for i := range n {
		var d amqp091.Delivery
		select {
		case d = <-deliveries:
		case <-ctx.Done():
			return ctx.Err()
		}
		p, err := workload.Decode(d.Body)
		if err != nil {
			return err
		}
		got(p)
		if (i+1)%amqpAckEvery == 0 || i == n-1 {
			if err := d.Ack(true); err != nil {
				return fmt.Errorf("amqp raw: ack: %w", err)
			}
		}
	}
	return nil
}

func (r *amqpRaw) Close() error {
	_, _ = r.ch.QueueDelete(r.queue, false, false, false)
	_ = r.sub.Close()
	return r.pub.Close()
}

// AMQPSwarm is swarm's RabbitMQ broker with its defaults (durable queue,
// persistent messages, batched confirms, prefetch from the kernel).
func AMQPSwarm(queue string) (workload.Contender, error) {
	q, err := amqp.New(queue, amqp.WithURL(amqpURL))
	if err != nil {
		return nil, err
	}
	return withCleanup(NewSwarm(q), func() { amqpDelete(queue, queue+".dlq") }), nil
}

// AMQPWatermill is watermill-amqp's durable queue configuration, with
// publisher confirms turned on so that a publish is accepted by the server
// as in the other two (its default publishes without them).
func AMQPWatermill(queue string) (workload.Contender, error) {
	cfg := wamqp.NewDurableQueueConfig(amqpURL)
	cfg.Publish.ConfirmDelivery = true
	pub, err := wamqp.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		return nil, err
	}
	sub, err := wamqp.NewSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		_ = pub.Close()
		return nil, err
	}
	// The subscriber declares the queue at Subscribe; declare it now so
	// that what is published before is kept.
	if err := sub.SubscribeInitialize(queue); err != nil {
		_ = pub.Close()
		_ = sub.Close()
		return nil, err
	}
	return withCleanup(&Watermill{pub: pub, sub: sub, topic: queue}, func() { amqpDelete(queue) }), nil
}

// amqpDelete removes the queues a run declared.
func amqpDelete(queues ...string) {
	c, err := amqp091.Dial(amqpURL)
	if err != nil {
		return
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		return
	}
	for _, q := range queues {
		_, _ = ch.QueueDelete(q, false, false, false)
	}
}
