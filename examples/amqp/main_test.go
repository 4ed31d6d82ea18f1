package main

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/swarm-go/swarm/broker/amqp"
	"github.com/swarm-go/swarm/swarmtest"
)

// TestRun runs the example against the shared RabbitMQ, on a queue of its
// own that it deletes afterwards.
func TestRun(t *testing.T) {
	swarmtest.RequireTCP(t, "RabbitMQ", "127.0.0.1:5672")
	var r [4]byte
	_, _ = rand.Read(r[:])
	queue := "example-" + hex.EncodeToString(r[:])
	t.Cleanup(func() {
		conn, err := amqp091.Dial(amqp.DefaultURL)
		if err != nil {
			return
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(queue, false, false, false)
			_, _ = ch.QueueDelete(queue+".dlq", false, false, false)
		}
	})
	var out strings.Builder
	if err := run(&out, amqp.DefaultURL, queue); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"received order-1 10.50 (attempt 1)", "received order-3 31.50", "round trip complete"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
