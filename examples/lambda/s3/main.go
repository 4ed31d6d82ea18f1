// Command s3 is a Lambda function fed by S3 event notifications: each new
// object is one message. Objects under "reject/" are failed, which fails the
// invocation so S3 retries it.
//
// Build for provided.al2023: GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap .
package main

import (
	"errors"
	"log"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/lambda"
	"github.com/swarm-go/swarm/listen"
)

func main() {
	q, err := lambda.NewS3()
	if err != nil {
		log.Fatal(err)
	}
	objects, ack := listen.Typed[events.S3EventRecord](q, swarm.Category(lambda.S3Category))

	go func() {
		for msg := range objects {
			obj := msg.Object.S3.Object
			if strings.HasPrefix(obj.Key, "reject/") {
				ack <- msg.Fail(errors.New("rejected object"))
				continue
			}
			log.Printf("%s s3://%s/%s (%d bytes)", msg.Object.EventName, msg.Object.S3.Bucket.Name, obj.Key, obj.Size)
			ack <- msg
		}
	}()

	awslambda.Start(q.Handler())
}
