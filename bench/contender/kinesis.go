package contender

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/swarm-go/swarm/bench/workload"
	"github.com/swarm-go/swarm/broker/kinesis"
	"github.com/swarm-go/swarm/broker/kinesis/kinesistest"
)

// kinesisPoll is how long a shard reader waits after an empty GetRecords,
// on both sides (kinesalite has no per-shard read limit to respect).
const kinesisPoll = 50 * time.Millisecond

func init() {
	register(func(int) Broker {
		e := &kinesisEmulator{}
		return Broker{Name: "kinesis", Order: 70, Raw: e.raw, Swarm: e.swarm, Setup: e.setup, Scale: 5}
	})
}

// kinesisEmulator is the kinesalite the Kinesis contenders share, started
// by Setup. Watermill has no Kinesis adapter.
type kinesisEmulator struct{ endpoint string }

func (e *kinesisEmulator) setup() (func(), error) {
	return startEmulator(func(t testing.TB) { e.endpoint = kinesistest.Start(t, false).Endpoint })
}

// raw is aws-sdk-go-v2 alone on a one-shard stream (swarm's default):
// PutRecords of 500 in order, and a reader per shard doing GetRecords of
// up to 1000 from TRIM_HORIZON.
func (e *kinesisEmulator) raw(stream string) (workload.Contender, error) {
	c := sdk.New(sdk.Options{Region: kinesistest.Region, Credentials: kinesistest.Credentials(),
		BaseEndpoint: aws.String(e.endpoint)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: &stream, ShardCount: aws.Int32(1)}); err != nil {
		return nil, fmt.Errorf("kinesis raw: create stream %s: %w", stream, err)
	}
	for {
		out, err := c.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: &stream})
		if err != nil {
			return nil, fmt.Errorf("kinesis raw: describe stream %s: %w", stream, err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return &kinesisRaw{c: c, stream: stream}, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type kinesisRaw struct {
	c      *sdk.Client
	stream string
}

func (r *kinesisRaw) Publish(ctx context.Context, n int, msg func(int) workload.Payload) error {
	recs := make([]types.PutRecordsRequestEntry, 0, 500)
	for sent := 0; sent < n; {
		recs = recs[:0]
		for i := sent; i < min(sent+500, n); i++ {
			recs = append(recs, types.PutRecordsRequestEntry{Data: workload.Encode(msg(i)), PartitionKey: aws.String("Payload")})
		}
		out, err := r.c.PutRecords(ctx, &sdk.PutRecordsInput{StreamName: &r.stream, Records: recs})
		if err == nil && aws.ToInt32(out.FailedRecordCount) > 0 {
			err = fmt.Errorf("%d of %d records failed", aws.ToInt32(out.FailedRecordCount), len(recs))
		}
		if err != nil {
			return fmt.Errorf("kinesis raw: PutRecords: %w", err)
		}
		sent += len(recs)
	}
	return nil
}

func (r *kinesisRaw) Consume(ctx context.Context, n int, got func(workload.Payload)) error {
	shards, err := r.c.ListShards(ctx, &sdk.ListShardsInput{StreamName: &r.stream})
	if err != nil {
		return fmt.Errorf("kinesis raw: ListShards: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex // got is called by one reader at a time
	var count atomic.Int64
	var wg sync.WaitGroup
	for _, sh := range shards.Shards {
		wg.Go(func() {
			if err := r.readShard(ctx, aws.ToString(sh.ShardId), n, &count, func(p workload.Payload) {
				mu.Lock()
				defer mu.Unlock()
				got(p)
			}); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if count.Load() < int64(n) {
		return fmt.Errorf("kinesis raw: read %d of %d: %w", count.Load(), n, context.Cause(ctx))
	}
	return nil
}

// readShard reads one shard until all n records of the stream arrived.
func (r *kinesisRaw) readShard(ctx context.Context, shard string, n int, count *atomic.Int64, got func(workload.Payload)) error {
	it, err := r.c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: &r.stream, ShardId: &shard,
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		return fmt.Errorf("kinesis raw: GetShardIterator of %s: %w", shard, err)
	}
	iter := it.ShardIterator
	for count.Load() < int64(n) && iter != nil {
		out, err := r.c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1000)})
		if err != nil {
			return fmt.Errorf("kinesis raw: GetRecords of %s: %w", shard, err)
		}
		for _, rec := range out.Records {
			p, err := workload.Decode(rec.Data)
			if err != nil {
				return fmt.Errorf("kinesis raw: decode: %w", err)
			}
			got(p)
		}
		if count.Add(int64(len(out.Records))) >= int64(n) {
			return nil
		}
		iter = out.NextShardIterator
		if len(out.Records) == 0 {
			select {
			case <-time.After(kinesisPoll):
			case <-ctx.Done():
				return nil
			}
		}
	}
	return nil
}

func (r *kinesisRaw) Close() error { return nil } // the emulator goes with the run

// swarm is swarm's Kinesis broker (one shard, in-memory checkpoints) with
// the raw side's poll interval.
func (e *kinesisEmulator) swarm(stream string) (workload.Contender, error) {
	q, err := kinesis.New(stream, kinesis.WithEndpoint(e.endpoint), kinesis.WithRegion(kinesistest.Region),
		kinesis.WithCredentials(kinesistest.Credentials()), kinesis.WithPollInterval(kinesisPoll),
		kinesis.WithCheckpointStore(kinesis.NewMemoryCheckpoints()))
	if err != nil {
		return nil, err
	}
	return NewSwarm(q), nil
}
