// Command mqtt emits typed messages on an MQTT v5 server (Mosquitto at
// 127.0.0.1:1883 by default, or the server named by MQTT_SERVER) and
// consumes them: go run ./examples/mqtt
package main

import (
	"fmt"
	"log"
	"os"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/mqtt"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// Order is the message: any Go type that encodes to JSON.
type Order struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
}

func main() {
	if err := run(server()); err != nil {
		log.Fatal(err)
	}
}

func server() string {
	if s := os.Getenv("MQTT_SERVER"); s != "" {
		return s
	}
	return "mqtt://127.0.0.1:1883"
}

func run(server string) error {
	// The only broker-specific line: the queue is the MQTT topic
	// "examples/mqtt-orders", consumed through "$share/swarm/examples/mqtt-orders".
	q, err := mqtt.New("examples/mqtt-orders", mqtt.WithServers(server))
	if err != nil {
		return err
	}

	enq := swarm.LogDeadLetters(emit.Typed[Order](q))
	deq, ack := listen.Typed[Order](q)

	const n = 3
	for i := range n {
		order := Order{ID: fmt.Sprintf("order-%d", i+1), Amount: 10.5 * float64(i+1)}
		enq <- order
		fmt.Printf("emitted  %s %.2f\n", order.ID, order.Amount)
	}

	for range n {
		msg := <-deq
		fmt.Printf("received %s %.2f (attempt %d)\n", msg.Object.ID, msg.Object.Amount, msg.Attempt())
		ack <- msg
	}

	if err := q.Close(); err != nil {
		return err
	}
	fmt.Println("round trip complete: 3 emitted, 3 received and acked")
	return nil
}
