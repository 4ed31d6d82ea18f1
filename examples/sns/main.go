// Command sns publishes typed messages on an Amazon SNS topic and consumes
// them from an SQS queue subscribed to it: SNS fans out, SQS holds the
// messages for its consumers, and the listener gets the typed object with
// its category whether the subscription delivers raw or in the SNS JSON
// envelope (this one uses the envelope).
//
//	go run ./examples/sns                                   # AWS: default credentials and region
//	AWS_ENDPOINT_URL=http://127.0.0.1:4566 go run ./examples/sns   # an emulator (fauxqs)
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/sns"
	"github.com/swarm-go/swarm/broker/sqs"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// Order is the message: any Go type that encodes to JSON.
type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

func main() {
	if err := run(os.Stdout, os.Getenv("AWS_ENDPOINT_URL")); err != nil {
		log.Fatal(err)
	}
}

// run publishes three orders on a topic and receives them from a
// subscribed queue, on AWS or at endpoint when set.
func run(out io.Writer, endpoint string) error {
	var topicOpts []sns.Option
	var queueOpts []sqs.Option
	if endpoint != "" {
		topicOpts = append(topicOpts, sns.WithEndpoint(endpoint))
		queueOpts = append(queueOpts, sqs.WithEndpoint(endpoint))
	}
	topic, err := sns.NewEmitter("swarm-example-orders", topicOpts...)
	if err != nil {
		return err
	}
	q, err := sqs.New("swarm-example-orders-billing", queueOpts...)
	if err != nil {
		return err
	}
	if err := subscribe(context.Background(), topic, q); err != nil {
		return err
	}

	enq := swarm.LogDeadLetters(emit.Typed[Order](topic))
	deq, ack := listen.Typed[Order](q)

	const n = 3
	for i := range n {
		order := Order{ID: fmt.Sprintf("order-%d", i+1), Amount: 10.5 * float64(i+1)}
		enq <- order
		fmt.Fprintf(out, "published %s %.2f\n", order.ID, order.Amount)
	}

	for range n {
		msg := <-deq
		fmt.Fprintf(out, "received  %s %.2f (category %s, attempt %d)\n", msg.Object.ID, msg.Object.Amount, msg.Category(), msg.Attempt())
		ack <- msg
	}

	if err := topic.Close(); err != nil {
		return err
	}
	if err := q.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "fan-out complete: %d published, %d received and acked\n", n, n)
	return nil
}

// subscribe subscribes the queue to the topic (idempotent), keeping the
// SNS envelope, and routes only orders to it with a filter policy on the
// category attribute. On AWS the queue's access policy must also let the
// topic send to it.
func subscribe(ctx context.Context, topic *sns.Emitter, q *sqs.Broker) error {
	a, err := q.Client().GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.QueueURL()), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("queue ARN: %w", err)
	}
	_, err = topic.Client().Subscribe(ctx, &awssns.SubscribeInput{
		TopicArn: aws.String(topic.TopicArn()),
		Protocol: aws.String("sqs"),
		Endpoint: aws.String(a.Attributes[string(types.QueueAttributeNameQueueArn)]),
		Attributes: map[string]string{
			"RawMessageDelivery": "false",
			"FilterPolicy":       `{"` + sns.CategoryAttr + `": ["Order"]}`,
		},
	})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}
