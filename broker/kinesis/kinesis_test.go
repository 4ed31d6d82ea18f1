package kinesis_test

import (
	"strings"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/kinesis"
	"github.com/swarm-go/swarm/broker/kinesis/kinesistest"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

func emulatorOpts(em *kinesistest.Emulator, more ...kinesis.Option) []kinesis.Option {
	return append([]kinesis.Option{
		kinesis.WithEndpoint(em.Endpoint),
		kinesis.WithRegion(kinesistest.Region),
		kinesis.WithCredentials(kinesistest.Credentials()),
		kinesis.WithPollInterval(50 * time.Millisecond),
	}, more...)
}

// opener opens streams on the emulator with dead letters to "<stream>-dlq".
func opener(em *kinesistest.Emulator) func(testing.TB, string, ...swarm.Option) (swarm.Broker, error) {
	return func(_ testing.TB, stream string, opts ...swarm.Option) (swarm.Broker, error) {
		return kinesis.New(stream, emulatorOpts(em, kinesis.WithKernel(opts...),
			kinesis.WithDeadLetterStream(stream+"-dlq"), kinesis.WithShards(2))...)
	}
}

func TestConformance(t *testing.T) {
	em := kinesistest.Start(t, false)
	swarmtest.Run(t, swarmtest.Config{
		Open: opener(em),
		OpenDeadLetters: func(t testing.TB, stream string, opts ...swarm.Option) (swarm.Broker, error) {
			return kinesis.New(stream+"-dlq", emulatorOpts(em, kinesis.WithKernel(opts...))...)
		},
	})
}

// TestRestart restarts a private, persistent kinesalite mid-stream.
func TestRestart(t *testing.T) {
	em := kinesistest.Start(t, true)
	swarmtest.RunRestart(t, swarmtest.Config{
		Open:    opener(em),
		Restart: func(testing.TB) { em.Process.Restart() },
		Timeout: 20 * time.Second,
	})
}

// TestOpenURLRoundTrip opens a stream through swarm.Open and the registered
// scheme.
func TestOpenURLRoundTrip(t *testing.T) {
	em := kinesistest.Start(t, false)
	q, err := swarm.Open("kinesis://" + strings.TrimPrefix(em.Endpoint, "http://") + "/url-opened?shards=2&dlq=url-opened-dlq")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	enq, _ := emit.Typed[swarmtest.Note](q)
	deq, ack := listen.Typed[swarmtest.Note](q)
	enq <- swarmtest.Note{Seq: 1, Text: "via URL"}
	select {
	case m := <-deq:
		ack <- m
		if m.Object.Text != "via URL" {
			t.Fatalf("got %+v", m.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received")
	}
	if got := q.Kernel().Queue(); got != "kinesis://"+strings.TrimPrefix(em.Endpoint, "http://")+"/url-opened" {
		t.Errorf("queue %q", got)
	}
}
