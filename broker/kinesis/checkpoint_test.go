package kinesis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/swarm-go/swarm/broker/kinesis/kinesistest"
	"github.com/swarm-go/swarm/kernel"
)

func openTest(t *testing.T, em *kinesistest.Emulator, stream string, store CheckpointStore) *Broker {
	t.Helper()
	b, err := New(stream, WithEndpoint(em.Endpoint), WithRegion(kinesistest.Region),
		WithCredentials(kinesistest.Credentials()), WithCheckpointStore(store), WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// receiveN takes n deliveries from the driver, or fails.
func receiveN(t *testing.T, d *driver, n int) []kernel.Envelope {
	t.Helper()
	var out []kernel.Envelope
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		envs, err := d.Receive(context.Background(), n-len(out))
		if err != nil {
			t.Logf("receive: %v", err)
		}
		out = append(out, envs...)
	}
	if len(out) != n {
		t.Fatalf("received %d of %d", len(out), n)
	}
	return out
}

// TestRestartFromCheckpoint: a listener that stops without releasing
// anything (a crash) leaves its checkpoint after the contiguous acked prefix;
// the next listener gets exactly the records after it, in order, and
// nothing before it.
func TestRestartFromCheckpoint(t *testing.T) {
	em := kinesistest.Start(t, false)
	store := NewMemoryCheckpoints()
	stream := fmt.Sprintf("checkpoint-%d", time.Now().UnixNano())
	b1 := openTest(t, em, stream, store)
	batch := make([]kernel.Envelope, 20)
	for i := range batch {
		batch[i] = kernel.Envelope{Category: "Note", ID: fmt.Sprint(i), Payload: []byte{byte(i)}}
	}
	if errs := b1.d.Send(context.Background(), batch); errs != nil {
		t.Fatalf("send: %v", errs)
	}
	got := receiveN(t, b1.d, 20)
	seq := func(i int) string { return got[i].Handle.(*entry).seq }
	shard := got[0].Handle.(*entry).sh.id
	ack := func(idx ...int) {
		t.Helper()
		hs := make([]any, len(idx))
		for j, i := range idx {
			hs[j] = got[i].Handle
		}
		if err := b1.d.Ack(context.Background(), hs); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint := func(want string, why string) {
		t.Helper()
		if cp, _ := store.Load(context.Background(), stream, shard); cp != want {
			t.Fatalf("%s: checkpoint %q, want %q", why, cp, want)
		}
	}
	ack(0, 1, 2, 3, 4, 7, 8)
	checkpoint(seq(4), "acks 0-4 then 7, 8")
	ack(5)
	checkpoint(seq(5), "gap at 6 still open")

	// Crash: the readers stop, nothing is released.
	if err := b1.d.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := openTest(t, em, stream, store)
	again := receiveN(t, b2.d, 14)
	for j, env := range again {
		if want := fmt.Sprint(6 + j); env.ID != want || env.Attempt != 1 || env.Payload[0] != byte(6+j) {
			t.Fatalf("redelivery %d: id %s attempt %d, want id %s attempt 1", j, env.ID, env.Attempt, want)
		}
	}
	if envs, _ := b2.d.Receive(context.Background(), 10); len(envs) > 0 {
		t.Fatalf("more than the unacked tail came back: %s", envs[0].ID)
	}
}
