package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/swarm-go/swarm/kernel"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record headers the broker maintains. Attributes travel as headers of
// their own name; names with this prefix are reserved.
const (
	reservedPrefix  = "swarm-"
	headerCategory  = "swarm-category"
	headerID        = "swarm-id"
	headerAttempt   = "swarm-attempt"
	headerDeadFrom  = "swarm-dead-letter-from"
	headerDeadTries = "swarm-dead-letter-attempts"
)

// driver is the kernel's port onto one topic: a producer client created at
// New and a group consumer created by the first Receive.
type driver struct {
	c        config
	kcfg     kernel.Config
	topic    string
	producer *kgo.Client
	k        *kernel.Kernel // set by New, for reports from background work

	dlqMu    sync.Mutex
	dlqReady bool // the dead-letter topic was created (or found)

	mu       sync.Mutex
	consumer *kgo.Client
	parts    map[tp]*part
	wake     chan struct{} // a partition's commit mark moved
	stop     chan struct{} // closed by Close: the committer ends
	done     chan struct{} // closed when the committer ended
	closed   bool
}

func newDriver(c config, kcfg kernel.Config, topic string, producer *kgo.Client) *driver {
	return &driver{
		c:        c,
		kcfg:     kcfg,
		topic:    topic,
		producer: producer,
		parts:    map[tp]*part{},
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// Capabilities: Kafka persists and orders per partition; keyed by category
// (the default), one emit channel lands in one partition, so its order holds.
// Redelivery is a new record with a higher attempt (see Nack). Consumers of a
// group compete per partition, not per record. Kafka has no
// per-message lease and no delay.
func (d *driver) Capabilities() kernel.Capabilities {
	return kernel.Capabilities{
		Ordered:        d.c.keyAttr == "",
		Persistent:     true,
		Redelivery:     true,
		ConsumerGroups: true,
		Partitioned:    true, // a member owns its partitions while it lives
		LongPoll:       true,
		Receivers:      1, // the client fetches in the background; one poll loop drains it
		MaxBatch:       2000,
		MaxBatchBytes:  16 << 20,
		MaxPayload:     d.c.maxPayload,
	}
}

// Send produces the batch; the client batches per partition and keeps the
// order of records with one key.
func (d *driver) Send(ctx context.Context, batch []kernel.Envelope) []error {
	return d.SendAsync(ctx, batch)()
}

// The kernel keeps several batches in flight with drivers that send
// asynchronously.
var _ kernel.AsyncSender = (*driver)(nil)

// SendAsync hands the batch's records to the producer and returns the wait
// for their outcome. The producer is idempotent, so records of one key
// handed over in order keep their order however many batches are in
// flight.
func (d *driver) SendAsync(ctx context.Context, batch []kernel.Envelope) func() []error {
	var errs []error
	var idx []int // the envelope of each record, once one was refused
	b := d.newBuilder(ctx, d.topic, batch)
	for i := range batch {
		_, err := b.add(&batch[i], 1)
		if err == nil {
			if idx != nil {
				idx = append(idx, i)
			}
			continue
		}
		if errs == nil {
			errs = make([]error, len(batch))
			idx = make([]int, i, len(batch))
			for j := range idx {
				idx[j] = j
			}
		}
		errs[i] = err
	}
	if len(b.recs) == 0 {
		b.release()
		return func() []error { return errs }
	}
	wait := d.startProduce(ctx, b)
	return func() []error {
		perr := wait()
		if perr == nil {
			return errs
		}
		if idx == nil {
			return perr
		}
		for j, err := range perr {
			errs[idx[j]] = err
		}
		return errs
	}
}

// Nack redelivers: Kafka cannot hand one record back, so each delivery is
// produced again to the topic with its attempt incremented, and the
// original counts as done once the copy is accepted. The copy is available
// to the group at once; delay is not honoured (Capabilities.Delay is false).
// A delivery whose copy could not be produced stays unsettled, which holds
// its partition's commit at it: it is redelivered (with the same attempt)
// after the next rebalance or restart, never lost.
func (d *driver) Nack(ctx context.Context, handles []any, _ time.Duration) error {
	return d.resend(ctx, handles, d.topic, func(dv *delivery) int { return dv.attempt + 1 }, nil)
}

// DeadLetter produces each delivery to the dead-letter topic with its
// category, id and attributes, plus where it came from, then counts the
// original as done.
func (d *driver) DeadLetter(ctx context.Context, handles []any) error {
	if err := d.ensureDeadLetterTopic(ctx); err != nil {
		return err
	}
	return d.resend(ctx, handles, d.c.deadLetter, func(*delivery) int { return 1 }, func(dv *delivery, r *kgo.Record) {
		r.Headers = append(r.Headers,
			kgo.RecordHeader{Key: headerDeadFrom, Value: []byte(fmt.Sprintf("%s/%d@%d", dv.p.tp.topic, dv.p.tp.partition, dv.offset))},
			kgo.RecordHeader{Key: headerDeadTries, Value: []byte(strconv.Itoa(dv.attempt))})
	})
}

// resend produces a copy of each live delivery to topic and marks the
// deliveries whose copy was accepted as done.
func (d *driver) resend(ctx context.Context, handles []any, topic string, attempt func(*delivery) int, edit func(*delivery, *kgo.Record)) error {
	var dvs []*delivery
	var envs []kernel.Envelope
	for _, h := range handles {
		dv, ok := h.(*delivery)
		if !ok {
			continue
		}
		rec := d.liveRecord(dv)
		if rec == nil {
			continue // stale: its partition moved, the new owner has it
		}
		dvs = append(dvs, dv)
		envs = append(envs, envelope(rec))
	}
	if len(envs) == 0 {
		return nil
	}
	b := d.newBuilder(ctx, topic, envs)
	for i, dv := range dvs {
		r, err := b.add(&envs[i], attempt(dv))
		if err != nil {
			b.release()
			return err // cannot happen: the envelope came from headers
		}
		if edit != nil {
			edit(dv, r)
		}
	}
	errs := d.produce(ctx, b)
	var first error
	accepted := dvs[:0:0]
	for i, dv := range dvs {
		if errs != nil && errs[i] != nil {
			if first == nil {
				first = errs[i]
			}
			continue
		}
		accepted = append(accepted, dv)
	}
	d.settle(accepted)
	return first
}

// ensureDeadLetterTopic creates the dead-letter topic on first use.
func (d *driver) ensureDeadLetterTopic(ctx context.Context) error {
	if !d.c.createTopics {
		return nil
	}
	d.dlqMu.Lock()
	defer d.dlqMu.Unlock()
	if d.dlqReady {
		return nil
	}
	if err := d.ensureTopic(ctx, d.c.deadLetter); err != nil {
		return err
	}
	d.dlqReady = true
	return nil
}

// Close stops committing, commits what was acked, leaves the group (so the
// other members take its partitions at once) and closes both clients after
// the producer flushed. All of it is bounded by one setup timeout, so Close
// returns even when the cluster is gone.
func (d *driver) Close() error {
	d.mu.Lock()
	d.closed = true
	consumer := d.consumer
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), d.c.setupTimeout)
	defer cancel()
	var errs []error
	if consumer != nil {
		close(d.stop)
		<-d.done
		if err := d.commit(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := consumer.LeaveGroupContext(ctx); err != nil {
			errs = append(errs, fmt.Errorf("kafka: leave group %q: %w", d.c.group, err))
		}
		consumer.Close()
	}
	if err := d.producer.Flush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kafka: flush producer of %s: %w", where(d.c, d.topic), err))
	}
	d.producer.Close()
	return errors.Join(errs...)
}
