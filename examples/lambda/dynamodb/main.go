// Command dynamodb is a Lambda function fed by a DynamoDB stream of an
// accounts table. Every change arrives as lambda.Change[Account] with the
// images as plain Go values; a change that leaves a negative balance is
// failed and reported as a batch item failure, the others are acked.
//
// Build for provided.al2023: GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap .
package main

import (
	"errors"
	"log"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/lambda"
	"github.com/swarm-go/swarm/listen"
)

// Account is an item of the table.
type Account struct {
	ID      string `json:"id"`
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
}

func main() {
	q, err := lambda.NewDynamoDB()
	if err != nil {
		log.Fatal(err)
	}
	changes, ack := listen.Typed[lambda.Change[Account]](q, swarm.Category(lambda.DynamoDBCategory))

	go func() {
		for msg := range changes {
			c := msg.Object
			if c.New != nil && c.New.Balance < 0 {
				ack <- msg.Fail(errors.New("negative balance"))
				continue
			}
			switch {
			case c.New != nil:
				log.Printf("%s account %s of %s: balance %d", c.EventName, c.New.ID, c.New.Owner, c.New.Balance)
			case c.Old != nil:
				log.Printf("%s account %s", c.EventName, c.Old.ID)
			}
			ack <- msg
		}
	}()

	awslambda.Start(q.Handler())
}
