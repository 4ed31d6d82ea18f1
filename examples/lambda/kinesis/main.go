// Command kinesis is a Lambda function fed by a Kinesis stream that two
// producers write: swarm's kinesis emitter (Reading records, whose category
// travels in the record's frame) and a device gateway that puts bare JSON
// (Heartbeat records, given their category by lambda.WithCategory). A
// reading out of range is failed and reported by sequence number, so Lambda
// retries from it (enable ReportBatchItemFailures on the mapping).
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

// Reading is a sensor reading emitted by swarm.
type Reading struct {
	Sensor  string  `json:"sensor"`
	Celsius float64 `json:"celsius"`
}

// Heartbeat is what the device gateway writes, without swarm.
type Heartbeat struct {
	Device string `json:"device"`
	Uptime int64  `json:"uptime"`
}

func main() {
	q, err := lambda.NewKinesis(lambda.WithCategory("Heartbeat"))
	if err != nil {
		log.Fatal(err)
	}
	readings, ackReading := listen.Typed[Reading](q)
	heartbeats, ackHeartbeat := listen.Typed[Heartbeat](q, swarm.Category("Heartbeat"))

	go func() {
		for msg := range readings {
			if c := msg.Object.Celsius; c < -90 || c > 60 {
				ackReading <- msg.Fail(errors.New("reading out of range"))
				continue
			}
			log.Printf("sensor %s: %.1f°C", msg.Object.Sensor, msg.Object.Celsius)
			ackReading <- msg
		}
	}()
	go func() {
		for msg := range heartbeats {
			if msg.Object.Device == "" {
				ackHeartbeat <- msg.Fail(errors.New("heartbeat without a device"))
				continue
			}
			log.Printf("device %s up %ds (partition key %s)", msg.Object.Device, msg.Object.Uptime,
				msg.Attrs()[lambda.AttrPartitionKey])
			ackHeartbeat <- msg
		}
	}()

	awslambda.Start(q.Handler())
}
