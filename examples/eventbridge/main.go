// Command eventbridge emits typed messages as events on an Amazon
// EventBridge bus, where rules route them to their targets. EventBridge is
// one-way: the consuming side is whatever the rules target (an SQS queue
// read with the sqs broker, a Lambda function).
//
//	AWS_REGION=eu-west-1 EVENT_BUS=orders go run ./examples/eventbridge
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/swarm-go/swarm/broker/eventbridge"
	"github.com/swarm-go/swarm/emit"
)

// OrderPlaced is the message: its category, "OrderPlaced", becomes the
// event's detail-type and its JSON the event's detail.
type OrderPlaced struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

func main() {
	bus := os.Getenv("EVENT_BUS")
	if bus == "" {
		bus = "default"
	}
	opts := []eventbridge.Option{eventbridge.WithEventBus(bus)}
	if ep := os.Getenv("EVENTBRIDGE_ENDPOINT"); ep != "" {
		opts = append(opts, eventbridge.WithEndpoint(ep))
	}
	if err := run(os.Stdout, opts...); err != nil {
		log.Fatal(err)
	}
}

func run(out io.Writer, opts ...eventbridge.Option) error {
	q, err := eventbridge.NewEmitter(append([]eventbridge.Option{eventbridge.WithSource("com.example.shop")}, opts...)...)
	if err != nil {
		return err
	}
	// Enq returns once EventBridge accepted the event, or with its error.
	w := emit.NewTyped[OrderPlaced](q)
	const n = 3
	for i := range n {
		order := OrderPlaced{ID: fmt.Sprintf("order-%d", i+1), Amount: 10.5 * float64(i+1)}
		if err := w.Enq(context.Background(), order); err != nil {
			_ = q.Close()
			return err
		}
		fmt.Fprintf(out, "put event OrderPlaced %s %.2f\n", order.ID, order.Amount)
	}
	if err := q.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "done: %d events put\n", n)
	return nil
}
