package nats

import (
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// InProcess connects a client to s in process, for what a test does itself
// (exported for the package's external tests), and closes it when the test
// ends.
func InProcess(t *testing.T, s *Server, opts ...natsgo.Option) (*natsgo.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := natsgo.Connect("", append([]natsgo.Option{natsgo.InProcessServer(s.NATS())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
