package kinesis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/swarm-go/swarm/broker/kinesis/kinesistest"
	"github.com/swarm-go/swarm/kernel"
)

// TestReshard: records written before a split are read (from the closed
// parent, to its end) before those written after it (in a child), and those
// before a merge before those after it (in the shard with two parents), so
// the order of one partition key holds across reshards.
func TestReshard(t *testing.T) {
	em := kinesistest.Start(t, false)
	stream := fmt.Sprintf("reshard-%d", time.Now().UnixNano())
	b := openTest(t, em, stream, NewMemoryCheckpoints())
	b.d.cfg.refresh = 100 * time.Millisecond
	send := func(from int) {
		t.Helper()
		batch := make([]kernel.Envelope, 10)
		for i := range batch {
			batch[i] = kernel.Envelope{Category: "Note", ID: fmt.Sprint(from + i)}
		}
		if errs := b.d.Send(context.Background(), batch); errs != nil {
			t.Fatalf("send: %v", errs)
		}
	}
	send(0)
	ctx := context.Background()
	shards, err := b.Client().ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil || len(shards.Shards) != 1 {
		t.Fatalf("list shards: %v %v", shards, err)
	}
	_, err = b.Client().SplitShard(ctx, &kinesis.SplitShardInput{
		StreamName: aws.String(stream), ShardToSplit: shards.Shards[0].ShardId,
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728"),
	})
	if err != nil {
		t.Fatalf("split: %v", err)
	}
	active := func() {
		for {
			s, err := b.Client().DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
			if err == nil && s.StreamDescriptionSummary.StreamStatus == "ACTIVE" {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	active()
	send(10)
	// Merge the two children back: the merged shard has two parents.
	all, err := b.Client().ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var open []types.Shard // kinesalite ignores ShardFilter
	for _, s := range all.Shards {
		if s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, s)
		}
	}
	if len(open) != 2 {
		t.Fatalf("%d open shards after the split, want 2", len(open))
	}
	if _, err := b.Client().MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(stream),
		ShardToMerge: open[0].ShardId, AdjacentShardToMerge: open[1].ShardId}); err != nil {
		t.Fatalf("merge: %v", err)
	}
	active()
	send(20)
	got := receiveN(t, b.d, 30)
	for i, env := range got {
		if env.ID != fmt.Sprint(i) {
			t.Fatalf("record %d is %s: order broken across the reshards", i, env.ID)
		}
	}
	if sh := got[29].Handle.(*entry).sh; len(sh.parents) != 2 {
		t.Fatalf("the last record was read from %s (parents %v), not the merged shard", sh.id, sh.parents)
	}
}
