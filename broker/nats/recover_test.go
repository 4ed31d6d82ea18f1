package nats_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/nats"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/kernel"
	"github.com/swarm-go/swarm/listen"
)

// removeStreamFiles removes the directory of stream name from under the
// running server s, as nats-server 2.11 does when a stream is created again
// while the deletion of the old one with that name is still running.
func removeStreamFiles(t *testing.T, s *nats.Server, name string) {
	t.Helper()
	dir := filepath.Join(s.StoreDir(), "jetstream", "$G", "streams", name)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the stream's directory: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}

// sendAndTake sends n messages on q, one at a time, and fails at the first
// that does not arrive or whose send the kernel reports as failed. Other
// reports (a receive meeting the consumer deleted with its stream) are
// logged. Before each send it waits for the stream named stream to be
// empty: a stream whose files are gone fails once its last block emptied.
// After each message arrives it calls after, when not nil, with the
// message's number.
func sendAndTake(t *testing.T, q swarm.Broker, errc <-chan error, js jetstream.JetStream, stream string, n int, after func(int)) {
	t.Helper()
	enq, _ := emit.Typed[note](q)
	deq, ack := listen.Typed[note](q)
	for i := range n {
		waitEmpty(t, js, stream)
		enq <- note{N: i}
		timeout := time.After(10 * time.Second)
	wait:
		for {
			select {
			case m := <-deq:
				ack <- m
				if m.Object.N != i {
					t.Fatalf("got %d, want %d", m.Object.N, i)
				}
				if after != nil {
					after(i)
				}
				break wait
			case err := <-errc:
				var kerr *kernel.Error
				if errors.As(err, &kerr) && kerr.Op == "emit" {
					t.Fatalf("message %d: %v", i, err)
				}
				t.Log(err)
			case <-timeout:
				t.Fatalf("message %d did not arrive", i)
			}
		}
	}
}

// waitEmpty waits until the stream holds no message (its consumer's acks
// reached the server) or is gone.
func waitEmpty(t *testing.T, js jetstream.JetStream, stream string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		st, err := js.Stream(context.Background(), stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) || err == nil && st.CachedInfo().State.Msgs == 0 {
			return
		}
	}
	t.Fatalf("stream %s still holds messages after 10s", stream)
}

// TestStreamFilesRemoved: a stream whose files the server removed (it keeps
// storing into the block file it holds open until that block empties) is
// created again, and the messages sent to it arrive instead of being
// dead-lettered.
func TestStreamFilesRemoved(t *testing.T) {
	s, err := nats.RunServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	errc := make(chan error, 64)
	q, err := nats.New("ashes", nats.WithServer(s), nats.WithKernel(swarm.WithStdErr(errc)))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	removeStreamFiles(t, s, "ashes")
	_, js := nats.InProcess(t, s)
	sendAndTake(t, q, errc, js, "ashes", 3, nil)
}

// TestStreamFilesRemovedKeepsConfig: the stream an operator configured
// (named with WithStream) is created again with its own configuration.
func TestStreamFilesRemovedKeepsConfig(t *testing.T) {
	s, err := nats.RunServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, js := nats.InProcess(t, s)
	ctx := context.Background()
	cfg := jetstream.StreamConfig{Name: "ops", Description: "the operator's", Subjects: []string{"ops.>"}, Retention: jetstream.WorkQueuePolicy}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 64)
	q, err := nats.New("ops.jobs", nats.WithServer(s), nats.WithStream("ops"), nats.WithKernel(swarm.WithStdErr(errc)))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	removeStreamFiles(t, s, "ops")
	sendAndTake(t, q, errc, js, "ops", 3, nil)
	st, err := js.Stream(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config; got.Description != cfg.Description || len(got.Subjects) != 1 || got.Subjects[0] != "ops.>" {
		t.Errorf("stream created again as %q capturing %v, want %q capturing %v", got.Description, got.Subjects, cfg.Description, cfg.Subjects)
	}
}

// TestStreamDeletedOneAttempt: the sends that meet a deleted stream are
// sent again within the driver once the stream is back, so not even one
// retry of the kernel is needed.
func TestStreamDeletedOneAttempt(t *testing.T) {
	s, err := nats.RunServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	errc := make(chan error, 64)
	q, err := nats.New("once", nats.WithServer(s), nats.WithKernel(swarm.WithStdErr(errc), swarm.WithRetry(kernel.None())))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	_, js := nats.InProcess(t, s)
	sendAndTake(t, q, errc, js, "once", 4, func(i int) {
		if i != 0 {
			return
		}
		if err := js.DeleteStream(context.Background(), "once"); err != nil {
			t.Fatal(err)
		}
	})
}
