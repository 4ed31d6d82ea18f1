// Command websocket is a Lambda function behind an API Gateway WebSocket
// API: a chat room. $connect and $disconnect are acked; a "send" message is
// echoed back to its sender through the Management API before the
// invocation returns. WS_ENDPOINT is the API's callback endpoint
// (https://{api-id}.execute-api.{region}.amazonaws.com/{stage}).
//
// Build for provided.al2023: GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap .
package main

import (
	"context"
	"log"
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/lambda"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// Chat is the body of a "send" request and of the echo.
type Chat struct {
	Text string `json:"text"`
}

// Connection is the (empty) body of $connect and $disconnect.
type Connection struct{}

func main() {
	q, err := lambda.NewWebSocket()
	if err != nil {
		log.Fatal(err)
	}
	replies, err := lambda.NewWebSocketEmitter(context.Background(), os.Getenv("WS_ENDPOINT"))
	if err != nil {
		log.Fatal(err)
	}
	echo := swarm.LogDeadLetters(emit.Typed[lambda.Reply[Chat]](replies))

	chats, ackChat := listen.Typed[Chat](q, swarm.Category("send"))
	connects, ackConnect := listen.Typed[Connection](q, swarm.Category("$connect"))
	disconnects, ackDisconnect := listen.Typed[Connection](q, swarm.Category("$disconnect"))

	go func() {
		for msg := range chats {
			from := msg.Attrs()[lambda.AttrConnectionID]
			echo <- lambda.Reply[Chat]{ConnectionID: from, Data: Chat{Text: "echo: " + msg.Object.Text}}
			ackChat <- msg
		}
	}()
	go func() {
		for msg := range connects {
			log.Printf("connected %s", msg.Attrs()[lambda.AttrConnectionID])
			ackConnect <- msg
		}
	}()
	go func() {
		for msg := range disconnects {
			log.Printf("disconnected %s", msg.Attrs()[lambda.AttrConnectionID])
			ackDisconnect <- msg
		}
	}()

	awslambda.Start(q.Handler())
}
