// Command eventbridge is a Lambda function fed by EventBridge. Orders and
// refunds arrive as events (DetailType "Order" or "Refund") and are handled
// by two typed listeners of one function. An order with a negative amount is
// failed, so the invocation fails and EventBridge retries it.
//
// Build for provided.al2023: GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap .
package main

import (
	"errors"
	"log"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/swarm-go/swarm/broker/lambda"
	"github.com/swarm-go/swarm/listen"
)

// Order is the detail of an "Order" event.
type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
	// Slow makes the handler take 3s, past a short deadline (for tests).
	Slow bool `json:"slow,omitempty"`
}

// Refund is the detail of a "Refund" event.
type Refund struct {
	ID    string `json:"id"`
	Order string `json:"order"`
}

func main() {
	q, err := lambda.NewEventBridge()
	if err != nil {
		log.Fatal(err)
	}
	orders, ackOrder := listen.Typed[Order](q)
	refunds, ackRefund := listen.Typed[Refund](q)

	go func() {
		for msg := range orders {
			if msg.Object.Amount < 0 {
				ackOrder <- msg.Fail(errors.New("negative amount"))
				continue
			}
			if msg.Object.Slow {
				time.Sleep(3 * time.Second)
			}
			log.Printf("order %s: %.2f", msg.Object.ID, msg.Object.Amount)
			ackOrder <- msg
		}
	}()
	go func() {
		for msg := range refunds {
			log.Printf("refund %s of order %s", msg.Object.ID, msg.Object.Order)
			ackRefund <- msg
		}
	}()

	awslambda.Start(q.Handler())
}
