package kinesis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/swarm-go/swarm/broker/kinesis/kinesiswire"
	"github.com/swarm-go/swarm/kernel"
)

// Kinesis limits (PutRecords, record size).
const (
	// MaxRecords is the most records one PutRecords call takes.
	MaxRecords = 500
	// MaxRecordSize bounds a record's data plus its partition key.
	MaxRecordSize = 1 << 20
	// maxCallBytes bounds the data and keys of one PutRecords call.
	maxCallBytes = 5 << 20
	// headerReserve is the room left in a record for the frame header and
	// the partition key: MaxPayload is MaxRecordSize less it. A message
	// whose header is larger still fails with ErrTooLarge.
	headerReserve = 4 << 10
	// MaxPayload is the largest payload the broker sends.
	MaxPayload = MaxRecordSize - headerReserve
)

// driver is the kernel's port onto one stream.
type driver struct {
	c      *kinesis.Client
	http   *http.Client
	stream string
	where  string
	cfg    config
	store  CheckpointStore

	// Listener state, started by the first Receive (reader.go, settle.go).
	startOnce sync.Once
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	recs      chan kernel.Envelope
	errs      chan error
	wake      chan struct{} // a closed shard ended: look for its children
	mu        sync.Mutex    // guards shards and their pending lists
	shards    map[string]*shard
	saveMu    sync.Mutex // orders checkpoint saves
}

func newDriver(c *kinesis.Client, hc *http.Client, stream, where string, cfg config) *driver {
	store := cfg.store
	if store == nil {
		// One stream name on two endpoints or regions is two streams.
		store = scoped{processCheckpoints, where + "#"}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &driver{
		c: c, http: hc, stream: stream, where: where, cfg: cfg, store: store,
		ctx: ctx, cancel: cancel,
		recs:   make(chan kernel.Envelope, cfg.buffer),
		errs:   make(chan error, 16),
		wake:   make(chan struct{}, 1),
		shards: map[string]*shard{},
	}
}

// Capabilities: ordered per category (the default partition key keeps a
// category on one shard; a custom key orders per key only, so Ordered is
// then false), persistent for the retention period, failed messages come
// back with a higher attempt (as re-put records), no delay, partitioned by
// shard but with no competing consumers (every listener reads every shard),
// no lease.
func (d *driver) Capabilities() kernel.Capabilities {
	return kernel.Capabilities{
		Ordered:         d.cfg.partitionKey == nil,
		Persistent:      true,
		Redelivery:      true,
		Partitioned:     true, // shards; no competing receivers at all (ConsumerGroups false)
		LongPoll:        true,
		SendConcurrency: 1,
		MaxBatch:        MaxRecords,
		MaxBatchBytes:   maxCallBytes - MaxRecords*2*1024,
		MaxPayload:      MaxPayload,
	}
}

// partitionKey returns the key of env: the configured one, else the
// category, else a constant (a key may not be empty), cut to 256 characters.
func (d *driver) partitionKey(env *kernel.Envelope) string {
	k := ""
	if d.cfg.partitionKey != nil {
		k = d.cfg.partitionKey(*env)
	}
	if k == "" {
		k = env.Category
	}
	if k == "" {
		k = "swarm"
	}
	if len(k) > 256 {
		k = k[:256]
	}
	return k
}

// Send puts batch with PutRecords, in order, splitting it only where a call
// would pass 5 MiB. A failed call fails its records and every later one (so
// the kernel retries them in order); a record failed inside a call
// (throughput exceeded, internal failure) fails alone.
func (d *driver) Send(ctx context.Context, batch []kernel.Envelope) []error {
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(batch))
		}
		errs[i] = err
	}
	entries := make([]types.PutRecordsRequestEntry, 0, len(batch))
	index := make([]int, 0, len(batch))
	size := 0
	flush := func() bool {
		if len(entries) == 0 {
			return true
		}
		perr := d.put(ctx, d.stream, entries)
		for j, err := range perr {
			if err != nil {
				fail(index[j], err)
			}
		}
		ok := perr == nil || !wholeCall(perr)
		entries, index, size = entries[:0], index[:0], 0
		return ok
	}
	for i := range batch {
		env := &batch[i]
		key := d.partitionKey(env)
		data := kinesiswire.Frame(env, 0)
		if n := len(data) + len(key); n > MaxRecordSize {
			fail(i, kernel.Permanent(fmt.Errorf("kinesis %s: record of %d bytes (payload %d, header and key %d) exceeds %d: %w",
				d.stream, n, len(env.Payload), n-len(env.Payload), MaxRecordSize, kernel.ErrTooLarge)))
			continue
		}
		if size+len(data)+len(key) > maxCallBytes || len(entries) == MaxRecords {
			if !flush() {
				for j := i; j < len(batch); j++ {
					fail(j, fmt.Errorf("kinesis %s: not sent, an earlier PutRecords call of the batch failed", d.stream))
				}
				return errs
			}
		}
		entries = append(entries, types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(key)})
		index = append(index, i)
		size += len(data) + len(key)
	}
	flush()
	return errs
}

// put makes one PutRecords call and returns nil when every entry was
// accepted, else one error per entry (nil where accepted).
func (d *driver) put(ctx context.Context, stream string, entries []types.PutRecordsRequestEntry) []error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
	defer cancel()
	out, err := d.c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	errs := make([]error, len(entries))
	if err != nil {
		err = callError{classify(fmt.Errorf("kinesis: PutRecords to %s at %s: %w", stream, hostOf(d.where), err))}
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if aws.ToInt32(out.FailedRecordCount) == 0 {
		return nil
	}
	for i, r := range out.Records {
		if i < len(errs) && r.ErrorCode != nil {
			errs[i] = fmt.Errorf("kinesis: PutRecords to %s: record %d: %s: %s", stream, i,
				aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
		}
	}
	return errs
}

// callError marks an error of a whole PutRecords call, as opposed to one of
// its records.
type callError struct{ error }

func (e callError) Unwrap() error { return e.error }

func wholeCall(errs []error) bool {
	var c callError
	return len(errs) > 0 && errors.As(errs[0], &c)
}

// classify marks the errors no retry can fix as permanent.
func classify(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "InvalidArgumentException", "ValidationException", "AccessDeniedException",
			"UnrecognizedClientException", "SerializationException":
			return kernel.Permanent(err)
		}
	}
	return err
}

// closeHTTP drops the idle connections of the client the broker built.
func (d *driver) closeHTTP() {
	if d.http != nil {
		d.http.CloseIdleConnections()
	}
}

// Close stops the shard readers (the kernel has released every delivery
// by now) and drops idle connections.
func (d *driver) Close() error {
	d.cancel()
	d.wg.Wait()
	d.closeHTTP()
	return nil
}

// dlqDriver is the driver with a dead-letter stream.
type dlqDriver struct{ *driver }
