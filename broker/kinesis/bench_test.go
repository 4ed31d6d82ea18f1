package kinesis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/kinesis"
	"github.com/swarm-go/swarm/broker/kinesis/kinesistest"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
)

// order is a small JSON struct (about 100 bytes encoded).
type order struct {
	ID       string    `json:"id"`
	Customer string    `json:"customer"`
	Amount   float64   `json:"amount"`
	Items    int       `json:"items"`
	Created  time.Time `json:"created"`
}

func sample(i int) order {
	return order{ID: fmt.Sprintf("order-%08d", i), Customer: "customer-42", Amount: 99.5, Items: 3,
		Created: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
}

// BenchmarkKinesis moves b.N small JSON messages through one kinesalite, on
// a fresh one-shard stream per run: raw is aws-sdk-go-v2 alone (PutRecords
// batches of 500 while GetRecords reads them), swarm is emit.Typed ->
// listen.Typed -> ack on the same emulator. Both poll an empty shard every
// 50ms. swarm-emitcap256 is swarm with the default emit capacity. The
// variants run interleaved, benchRounds times each; the ratio of the
// medians is logged.
//
//	go test -run '^$' -bench Kinesis -benchtime 20000x -v ./broker/kinesis
func BenchmarkKinesis(b *testing.B) {
	em := kinesistest.Start(b, false)
	var mu sync.Mutex
	rates := map[string][]float64{}
	run := 0
	stream := func() string { run++; return fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), run) }
	record := func(name string, r float64) {
		if r < 0 {
			return // the 1-message probe run before the real one
		}
		mu.Lock()
		defer mu.Unlock()
		rates[name] = append(rates[name], r)
	}
	// Rounds interleave the variants, so that load from elsewhere on the
	// machine falls on all of them alike; the ratio is of the medians.
	for range benchRounds {
		b.Run("raw", func(b *testing.B) { record("raw", benchRaw(b, em, stream())) })
		b.Run("swarm", func(b *testing.B) { record("swarm", benchSwarm(b, em, stream(), 1024)) })
		b.Run("swarm-emitcap256", func(b *testing.B) { record("swarm-emitcap256", benchSwarm(b, em, stream(), 256)) })
	}
	raw, sw, def := median(rates["raw"]), median(rates["swarm"]), median(rates["swarm-emitcap256"])
	if raw > 0 {
		b.Logf("medians of %d rounds: raw %.0f msgs/s, swarm %.0f msgs/s (swarm/raw = %.2f), swarm-emitcap256 %.0f msgs/s (%.2f)",
			benchRounds, raw, sw, sw/raw, def, def/raw)
	}
}

// benchRounds is how many times each variant runs, interleaved.
const benchRounds = 5

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func opts(em *kinesistest.Emulator) []kinesis.Option {
	return []kinesis.Option{kinesis.WithEndpoint(em.Endpoint), kinesis.WithRegion(kinesistest.Region),
		kinesis.WithCredentials(kinesistest.Credentials()), kinesis.WithPollInterval(50 * time.Millisecond),
		kinesis.WithCheckpointStore(kinesis.NewMemoryCheckpoints())}
}

// benchSwarm runs the library's path with an emit channel of capacity
// emitCap: the emitter batches what the channel holds, so 1024 lets it fill
// PutRecords batches of 500 as the raw baseline does (256 is the default).
func benchSwarm(b *testing.B, em *kinesistest.Emulator, stream string, emitCap int) float64 {
	q, err := kinesis.New(stream, append(opts(em), kinesis.WithKernel(swarm.WithEmitCapacity(emitCap)))...)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	enq, _ := emit.Typed[order](q)
	deq, ack := listen.Typed[order](q)
	v := sample(1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			enq <- v
		}
	}()
	for range b.N {
		ack <- <-deq
	}
	b.StopTimer()
	return report(b)
}

func benchRaw(b *testing.B, em *kinesistest.Emulator, stream string) float64 {
	// The broker creates the stream; the raw client is the one it built.
	q, err := kinesis.New(stream, opts(em)...)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	c := q.Client()
	ctx := context.Background()
	data, _ := json.Marshal(sample(1))
	b.ReportAllocs()
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() {
		recs := make([]types.PutRecordsRequestEntry, 0, 500)
		for sent := 0; sent < b.N; {
			recs = recs[:0]
			for len(recs) < 500 && sent+len(recs) < b.N {
				recs = append(recs, types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String("order")})
			}
			out, err := c.PutRecords(ctx, &sdk.PutRecordsInput{StreamName: aws.String(stream), Records: recs})
			if err != nil || aws.ToInt32(out.FailedRecordCount) > 0 {
				errc <- fmt.Errorf("PutRecords: %v (failed %d)", err, aws.ToInt32(out.FailedRecordCount))
				return
			}
			sent += len(recs)
		}
	}()
	shards, err := c.ListShards(ctx, &sdk.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		b.Fatal(err)
	}
	it, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String(stream),
		ShardId: shards.Shards[0].ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		b.Fatal(err)
	}
	iter := it.ShardIterator
	for got := 0; got < b.N; {
		select {
		case err := <-errc:
			b.Fatal(err)
		default:
		}
		out, err := c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1000)})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range out.Records {
			var o order
			if err := json.Unmarshal(r.Data, &o); err != nil {
				b.Fatal(err)
			}
		}
		got += len(out.Records)
		iter = out.NextShardIterator
		if len(out.Records) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	b.StopTimer()
	return report(b)
}

// report reports msgs/s and returns it, or -1 for the probe run of b.N 1.
func report(b *testing.B) float64 {
	r := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(r, "msgs/s")
	if b.N == 1 {
		return -1
	}
	return r
}
