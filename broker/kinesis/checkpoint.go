package kinesis

import (
	"context"
	"sync"
)

// CheckpointStore keeps the position of listeners in each shard: the
// sequence number of the last record settled (acked, failed over to a
// re-put, or dead-lettered) with every record before it in the shard also
// settled. A listener opening a stream resumes after it, so what was not
// settled before a crash or Close is delivered again. Implementations must
// be safe for concurrent use.
type CheckpointStore interface {
	// Load returns the checkpoint of shard in stream, or "" when there is
	// none (the listener then starts at the oldest record, TRIM_HORIZON).
	Load(ctx context.Context, stream, shard string) (seq string, err error)
	// Save records seq as the checkpoint of shard in stream. A failed Save
	// is reported and retried with the next ack.
	Save(ctx context.Context, stream, shard, seq string) error
}

// MemoryCheckpoints is an in-memory CheckpointStore. Checkpoints only move
// forward: a Save of an older sequence number than the one held is ignored,
// so listeners sharing a store never move each other back.
type MemoryCheckpoints struct {
	mu sync.Mutex
	m  map[[2]string]string
}

// NewMemoryCheckpoints returns an empty in-memory store, private to the
// brokers given it.
func NewMemoryCheckpoints() *MemoryCheckpoints {
	return &MemoryCheckpoints{m: map[[2]string]string{}}
}

// processCheckpoints is the default store: a listener closed and reopened in
// one process resumes where it left off, as a consumer group would.
var processCheckpoints = NewMemoryCheckpoints()

// Load returns the checkpoint of shard in stream, or "".
func (s *MemoryCheckpoints) Load(_ context.Context, stream, shard string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[[2]string{stream, shard}], nil
}

// Save records seq unless the checkpoint held is already past it.
func (s *MemoryCheckpoints) Save(_ context.Context, stream, shard, seq string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{stream, shard}
	if seqLess(s.m[k], seq) {
		s.m[k] = seq
	}
	return nil
}

// seqLess compares Kinesis sequence numbers, decimal strings of up to 128
// digits without leading zeros.
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// scoped prefixes stream names, so that the process-wide default store
// tells apart streams of one name on different endpoints or regions.
type scoped struct {
	CheckpointStore
	prefix string
}

func (s scoped) Load(ctx context.Context, stream, shard string) (string, error) {
	return s.CheckpointStore.Load(ctx, s.prefix+stream, shard)
}

func (s scoped) Save(ctx context.Context, stream, shard, seq string) error {
	return s.CheckpointStore.Save(ctx, s.prefix+stream, shard, seq)
}
