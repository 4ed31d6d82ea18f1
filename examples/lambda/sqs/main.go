// Command sqs is a Lambda function fed by an SQS queue of orders and
// refunds: messages emitted by swarm's SQS emitter, or published by its SNS
// emitter to a topic the queue subscribes to (raw or enveloped delivery).
// Two typed listeners share each batch. An order with a negative amount is
// failed; the answer lists only the failed and unsettled messages, so SQS
// redelivers just those (enable ReportBatchItemFailures on the mapping).
//
// For every accepted order, a Shipment is emitted to the queue named by
// SHIPMENTS_QUEUE (a swarm URL such as sqs://shipments?region=eu-west-1),
// when set. The invocation returns only once SQS has confirmed those
// shipments, so none is lost when Lambda freezes the function.
//
// Build for provided.al2023: GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap .
package main

import (
	"errors"
	"log"
	"os"
	"sync"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/lambda"
	_ "github.com/swarm-go/swarm/broker/sqs" // the sqs:// URL scheme
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// Order is an order to accept and ship.
type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
	// Slow makes the order take 5s, past a short deadline (for tests).
	Slow bool `json:"slow,omitempty"`
	// AwaitRefund holds the order until a refund of it has been handled:
	// in one batch, only the refund listener, running at the same time,
	// can release it (for tests of concurrent listeners).
	AwaitRefund bool `json:"awaitRefund,omitempty"`
}

// Refund cancels an order.
type Refund struct {
	ID    string `json:"id"`
	Order string `json:"order"`
}

// Shipment is emitted for every accepted order.
type Shipment struct {
	Order string `json:"order"`
	// Attempt is the delivery of the order that was accepted (SQS's
	// ApproximateReceiveCount).
	Attempt int `json:"attempt"`
}

// refunded signals the orders whose refund has been handled.
type refunded struct {
	mu   sync.Mutex
	done map[string]chan struct{}
}

// of returns the channel closed once a refund of order is handled.
func (r *refunded) of(order string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.chanOf(order)
}

// mark records that a refund of order is handled.
func (r *refunded) mark(order string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.chanOf(order)
	select {
	case <-c:
	default:
		close(c)
	}
}

func (r *refunded) chanOf(order string) chan struct{} {
	c, ok := r.done[order]
	if !ok {
		c = make(chan struct{})
		r.done[order] = c
	}
	return c
}

func main() {
	q, err := lambda.NewSQS()
	if err != nil {
		log.Fatal(err)
	}
	var shipments chan<- Shipment
	if target := os.Getenv("SHIPMENTS_QUEUE"); target != "" {
		out, err := swarm.Open(target)
		if err != nil {
			log.Fatal(err)
		}
		shipments = swarm.LogDeadLetters(emit.Typed[Shipment](out))
	}
	orders, ackOrder := listen.Typed[Order](q)
	refunds, ackRefund := listen.Typed[Refund](q)
	seen := &refunded{done: map[string]chan struct{}{}}

	accept := func(msg swarm.Msg[Order]) {
		if shipments != nil {
			shipments <- Shipment{Order: msg.Object.ID, Attempt: msg.Attempt()}
		}
		ackOrder <- msg
	}
	go func() {
		for msg := range orders {
			switch o := msg.Object; {
			case o.Amount < 0:
				ackOrder <- msg.Fail(errors.New("negative amount"))
			case o.Slow:
				go func() { time.Sleep(5 * time.Second); accept(msg) }()
			case o.AwaitRefund:
				select {
				case <-seen.of(o.ID):
					accept(msg)
				case <-time.After(5 * time.Second):
					ackOrder <- msg.Fail(errors.New("no refund came"))
				}
			default:
				log.Printf("order %s: %.2f", o.ID, o.Amount)
				accept(msg)
			}
		}
	}()
	go func() {
		for msg := range refunds {
			log.Printf("refund %s of order %s", msg.Object.ID, msg.Object.Order)
			seen.mark(msg.Object.Order)
			ackRefund <- msg
		}
	}()

	awslambda.Start(q.Handler())
}
