package lambda

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/swarm-go/swarm/broker/kinesis/kinesiswire"
	"github.com/swarm-go/swarm/broker/sqs/sqswire"
	"github.com/swarm-go/swarm/kernel"
)

// SQS is a listener fed by an SQS queue's event source mapping. Messages
// are decoded as the sqs broker decodes them (package sqswire): the
// category from the swarm-category message attribute that the SQS and SNS
// emitters set, SNS notifications unwrapped whether delivered raw or in
// their JSON envelope, and Attempt from ApproximateReceiveCount. Messages
// without a category get the WithCategory one (none by default: they are
// then failed as of unknown category). The handler answers with a partial
// batch response listing only the failed and unsettled messages; enable
// ReportBatchItemFailures on the event source mapping, or SQS deletes the
// whole batch. From a FIFO queue, the first failed message and every one
// after it are reported, so that the queue's order holds.
type SQS struct {
	*Broker
	category string
	margin   time.Duration
}

// NewSQS returns the listener; pass its Handler to lambda.Start.
func NewSQS(opts ...Option) (*SQS, error) {
	b, c, err := newBroker("sqs", "", opts)
	if err != nil {
		return nil, err
	}
	return &SQS{Broker: b, category: c.category, margin: c.margin}, nil
}

// Handler handles one batch of messages and reports the failed ones by
// message id. It returns an error, failing the whole batch, only when the
// emits made meanwhile could not be confirmed.
func (s *SQS) Handler() func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		envs := make([]kernel.Envelope, len(e.Records))
		for i, r := range e.Records {
			m := sqswire.Message{ID: r.MessageId, Body: r.Body, Attributes: r.Attributes}
			if len(r.MessageAttributes) > 0 {
				m.MessageAttributes = make(map[string]sqswire.Attr, len(r.MessageAttributes))
				for name, a := range r.MessageAttributes {
					attr := sqswire.Attr{DataType: a.DataType, BinaryValue: a.BinaryValue}
					if a.StringValue != nil {
						attr.StringValue = *a.StringValue
					}
					m.MessageAttributes[name] = attr
				}
			}
			envs[i] = sqswire.Decode(m, s.category)
		}
		failed, err := s.invoke(ctx, envs, s.margin, false)
		if len(failed) > 0 && strings.HasSuffix(e.Records[0].EventSourceARN, ".fifo") {
			// A FIFO queue keeps its order only if nothing after a failed
			// message is deleted: report the first failure and every
			// message after it.
			first := failed[0]
			failed = make([]int, 0, len(envs)-first)
			for i := first; i < len(envs); i++ {
				failed = append(failed, i)
			}
		}
		var resp events.SQSEventResponse
		for _, i := range failed {
			resp.BatchItemFailures = append(resp.BatchItemFailures,
				events.SQSBatchItemFailure{ItemIdentifier: e.Records[i].MessageId})
		}
		return resp, err
	}
}

// Kinesis is a listener fed by a Kinesis stream's event source mapping.
// Records written by swarm's kinesis emitter carry their category, id,
// attempt and attributes in a frame (package kinesiswire); records of other
// producers are bare payloads of the WithCategory category (none by
// default: they are then failed as of unknown category), with the event id
// as their id. Failed records are reported as batch item failures by
// sequence number (enable ReportBatchItemFailures; Lambda then retries from
// the lowest one).
type Kinesis struct {
	*Broker
	category string
	margin   time.Duration
}

// NewKinesis returns the listener; pass its Handler to lambda.Start.
func NewKinesis(opts ...Option) (*Kinesis, error) {
	b, c, err := newBroker("kinesis", "", opts)
	if err != nil {
		return nil, err
	}
	return &Kinesis{Broker: b, category: c.category, margin: c.margin}, nil
}

// AttrPartitionKey is the attribute carrying the partition key of a Kinesis
// record of another producer (swarm's records carry their own attributes).
const AttrPartitionKey = "partitionKey"

// Handler handles one batch of records and reports the failed ones by
// sequence number. It returns an error, failing the whole batch, only when
// the emits made meanwhile could not be confirmed.
func (s *Kinesis) Handler() func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
	return func(ctx context.Context, e events.KinesisEvent) (events.KinesisEventResponse, error) {
		envs := make([]kernel.Envelope, len(e.Records))
		for i, r := range e.Records {
			env := kinesiswire.Decode(r.Kinesis.Data)
			if env.ID == "" {
				env.ID = r.EventID
			}
			if env.Category == "" {
				env.Category = s.category
			}
			if !kinesiswire.IsFrame(r.Kinesis.Data) && r.Kinesis.PartitionKey != "" {
				env.Attrs = map[string]string{AttrPartitionKey: r.Kinesis.PartitionKey}
			}
			envs[i] = env
		}
		failed, err := s.invoke(ctx, envs, s.margin, false)
		var resp events.KinesisEventResponse
		for _, i := range failed {
			resp.BatchItemFailures = append(resp.BatchItemFailures,
				events.KinesisBatchItemFailure{ItemIdentifier: e.Records[i].Kinesis.SequenceNumber})
		}
		return resp, err
	}
}
