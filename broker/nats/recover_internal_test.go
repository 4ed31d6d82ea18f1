package nats

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// embedded runs a server for the test and returns a JetStream client of it.
func embedded(t *testing.T) (jetstream.JetStream, *Server) {
	t.Helper()
	s, err := RunServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	_, js := InProcess(t, s)
	return js, s
}

// keepStreamsDir creates a stream the test leaves alone, which keeps the
// account's directory of streams: the server removes it when the account's
// last stream is deleted, and a create racing that removal fails with
// "error creating store for stream" (TestRepairSparesNewerStream: 3 runs in
// 150 without it).
func keepStreamsDir(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "other", Subjects: []string{"other"}}); err != nil {
		t.Fatal(err)
	}
}

// TestRepairKeepsMessages: a stream that still holds messages is never
// deleted by a repair, whatever its store answers.
func TestRepairKeepsMessages(t *testing.T) {
	js, _ := embedded(t)
	ctx := context.Background()
	cfg := jetstream.StreamConfig{Name: "kept", Subjects: []string{"kept"}, Retention: jetstream.WorkQueuePolicy}
	before, err := js.CreateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "kept", []byte("keep me")); err != nil {
		t.Fatal(err)
	}
	d := &driver{js: js, stream: cfg, created: before.CachedInfo().Created}
	if err := d.repair(ctx); !errors.Is(err, errStreamHolds) {
		t.Errorf("repair: %v, want %v", err, errStreamHolds)
	}
	after, err := js.Stream(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if info := after.CachedInfo(); info.State.Msgs != 1 || !info.Created.Equal(before.CachedInfo().Created) {
		t.Errorf("stream created at %v holding %d messages, want the one created at %v holding 1",
			info.Created, info.State.Msgs, before.CachedInfo().Created)
	}
}

// TestRecreateOnOldFiles: a stream created again while the old one's
// directory is still there (its deletion not over) comes up with the old
// messages; recreate deletes it and creates it again empty.
func TestRecreateOnOldFiles(t *testing.T) {
	js, s := embedded(t)
	ctx := context.Background()
	keepStreamsDir(t, js)
	cfg := jetstream.StreamConfig{Name: "again", Subjects: []string{"again"}, Retention: jetstream.WorkQueuePolicy}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "again", []byte("deleted with its stream")); err != nil {
			t.Fatal(err)
		}
	}
	// The old directory, as the deletion leaves it before removing it.
	dir := filepath.Join(s.StoreDir(), "jetstream", "$G", "streams", "again")
	kept := filepath.Join(t.TempDir(), "again")
	if err := os.CopyFS(kept, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(kept)); err != nil {
		t.Fatal(err)
	}
	d := &driver{js: js, stream: cfg}
	if err := d.recreate(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "again")
	if err != nil {
		t.Fatal(err)
	}
	if state := st.CachedInfo().State; state.LastSeq != 0 || state.Msgs != 0 {
		t.Errorf("stream created again holding %d messages up to sequence %d, want an empty one", state.Msgs, state.LastSeq)
	}
}

// TestRepairSparesNewerStream: a broker whose stream another broker has
// repaired (deleted and created again) since its own setup does not delete
// the new one, which may already hold that broker's sends.
func TestRepairSparesNewerStream(t *testing.T) {
	js, _ := embedded(t)
	ctx := context.Background()
	keepStreamsDir(t, js)
	cfg := jetstream.StreamConfig{Name: "shared", Subjects: []string{"shared"}, Retention: jetstream.WorkQueuePolicy}
	old, err := js.CreateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	repaired, err := js.CreateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{js: js, stream: cfg, created: old.CachedInfo().Created}
	if err := d.repair(ctx); err != nil {
		t.Fatal(err)
	}
	now, err := js.Stream(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := now.CachedInfo().Created, repaired.CachedInfo().Created; !got.Equal(want) {
		t.Errorf("stream created at %v after the repair, want the other broker's, created at %v", got, want)
	}
}

// TestBornOld: a stream holding messages sent since its creation (another
// broker created it and sent to it) is not taken for one created on the
// files of a deleted stream.
func TestBornOld(t *testing.T) {
	js, _ := embedded(t)
	ctx := context.Background()
	cfg := jetstream.StreamConfig{Name: "fresh", Subjects: []string{"fresh"}}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "fresh", []byte("sent since")); err != nil {
		t.Fatal(err)
	}
	// The create another broker makes meanwhile returns the same stream.
	st, err := js.CreateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if info := st.CachedInfo(); bornOld(info) {
		t.Errorf("stream created at %v, last message at %v (sequence %d), taken for one born on old files",
			info.Created, info.State.LastTime, info.State.LastSeq)
	}
}
