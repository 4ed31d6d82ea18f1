package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/swarm-go/swarm/kernel"
)

// EventBridge is a listener fed by EventBridge events delivered to the
// function: the category is the event's DetailType and the payload its
// Detail. A failed event fails the invocation, and EventBridge retries it.
type EventBridge struct {
	*Broker
	margin time.Duration
}

// NewEventBridge returns the listener; pass its Handler to lambda.Start.
func NewEventBridge(opts ...Option) (*EventBridge, error) {
	b, c, err := newBroker("eventbridge", "", opts)
	if err != nil {
		return nil, err
	}
	return &EventBridge{Broker: b, margin: c.margin}, nil
}

// Handler handles one event: nil once it is acked, an error when it is
// failed or still unsettled at the deadline.
func (s *EventBridge) Handler() func(context.Context, events.EventBridgeEvent) error {
	return func(ctx context.Context, e events.EventBridgeEvent) error {
		env := kernel.Envelope{Category: e.DetailType, ID: e.ID, Payload: e.Detail, Attempt: 1,
			Attrs: map[string]string{"source": e.Source, "account": e.AccountID, "region": e.Region,
				"time": e.Time.Format(time.RFC3339)}}
		failed, err := s.invoke(ctx, []kernel.Envelope{env}, s.margin, true)
		if err != nil {
			return err
		}
		if len(failed) > 0 {
			return fmt.Errorf("swarm: event %s (%s) was not acked", e.ID, e.DetailType)
		}
		return nil
	}
}

// S3 is a listener fed by S3 event notifications: every record is one
// message of a fixed category (default "s3", WithCategory) whose payload is
// the record as JSON: listen.Typed[events.S3EventRecord](q,
// swarm.Category("s3")). The first failed record fails the invocation.
type S3 struct {
	*Broker
	category string
	margin   time.Duration
}

// S3Category is the default category of S3 records.
const S3Category = "s3"

// NewS3 returns the listener; pass its Handler to lambda.Start.
func NewS3(opts ...Option) (*S3, error) {
	b, c, err := newBroker("s3", S3Category, opts)
	if err != nil {
		return nil, err
	}
	return &S3{Broker: b, category: c.category, margin: c.margin}, nil
}

// Handler handles one notification: nil once every record is acked.
func (s *S3) Handler() func(context.Context, events.S3Event) error {
	return func(ctx context.Context, e events.S3Event) error {
		envs := make([]kernel.Envelope, len(e.Records))
		for i, r := range e.Records {
			payload, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("swarm: s3 record %d: %w", i, err)
			}
			envs[i] = kernel.Envelope{Category: s.category, Payload: payload, Attempt: 1,
				ID: r.S3.Bucket.Name + "/" + r.S3.Object.Key + "@" + r.S3.Object.Sequencer}
		}
		failed, err := s.invoke(ctx, envs, s.margin, true)
		if err != nil {
			return err
		}
		if len(failed) > 0 {
			return fmt.Errorf("swarm: %d of %d S3 records were not acked (first: %s)", len(failed), len(envs), envs[failed[0]].ID)
		}
		return nil
	}
}

// DynamoDB is a listener fed by DynamoDB Streams: every record is one
// message of a fixed category (default "dynamodb", WithCategory) whose
// payload decodes to Change[T], with the new and old images as plain JSON
// of the item. Failed records are reported as batch item failures by
// sequence number.
type DynamoDB struct {
	*Broker
	category string
	margin   time.Duration
}

// DynamoDBCategory is the default category of DynamoDB stream records.
const DynamoDBCategory = "dynamodb"

// Change is a DynamoDB stream record with its images unmarshalled to T:
// listen.Typed[lambda.Change[Order]](q, swarm.Category(lambda.DynamoDBCategory)).
type Change[T any] struct {
	// EventName is INSERT, MODIFY or REMOVE.
	EventName string `json:"eventName"`
	// Keys are the item's key attributes.
	Keys map[string]any `json:"keys,omitempty"`
	// New is the item after the change (nil for REMOVE, or when the stream
	// does not carry new images).
	New *T `json:"new,omitempty"`
	// Old is the item before the change (nil for INSERT, or when the
	// stream does not carry old images).
	Old *T `json:"old,omitempty"`
}

// NewDynamoDB returns the listener; pass its Handler to lambda.Start.
func NewDynamoDB(opts ...Option) (*DynamoDB, error) {
	b, c, err := newBroker("dynamodb", DynamoDBCategory, opts)
	if err != nil {
		return nil, err
	}
	return &DynamoDB{Broker: b, category: c.category, margin: c.margin}, nil
}

// Handler handles one batch of stream records and reports the failed ones.
func (s *DynamoDB) Handler() func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	return func(ctx context.Context, e events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		envs := make([]kernel.Envelope, len(e.Records))
		for i, r := range e.Records {
			change := Change[json.RawMessage]{EventName: r.EventName}
			var err error
			if change.Keys, err = plainItem(r.Change.Keys); err == nil {
				change.New, err = plainImage(r.Change.NewImage)
			}
			if err == nil {
				change.Old, err = plainImage(r.Change.OldImage)
			}
			var payload []byte
			if err == nil {
				payload, err = json.Marshal(change)
			}
			if err != nil {
				// The record is reported and failed by the kernel as
				// undecodable: its payload stays what the stream sent.
				payload = []byte(fmt.Sprintf("undecodable DynamoDB record: %v", err))
			}
			envs[i] = kernel.Envelope{Category: s.category, ID: r.EventID, Payload: payload, Attempt: 1,
				Attrs: map[string]string{"sequenceNumber": r.Change.SequenceNumber}}
		}
		failed, err := s.invoke(ctx, envs, s.margin, false)
		var resp events.DynamoDBEventResponse
		for _, i := range failed {
			resp.BatchItemFailures = append(resp.BatchItemFailures,
				events.DynamoDBBatchItemFailure{ItemIdentifier: e.Records[i].Change.SequenceNumber})
		}
		return resp, err
	}
}

func plainImage(img map[string]events.DynamoDBAttributeValue) (*json.RawMessage, error) {
	if len(img) == 0 {
		return nil, nil
	}
	m, err := plainItem(img)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	raw := json.RawMessage(b)
	return &raw, err
}

// plainItem turns a DynamoDB item into plain JSON values: numbers as JSON
// numbers, sets as arrays, binary as base64 strings.
func plainItem(item map[string]events.DynamoDBAttributeValue) (map[string]any, error) {
	if item == nil {
		return nil, nil
	}
	out := make(map[string]any, len(item))
	for k, v := range item {
		p, err := plain(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		out[k] = p
	}
	return out, nil
}

func plain(v events.DynamoDBAttributeValue) (any, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return v.String(), nil
	case events.DataTypeNumber:
		return json.Number(v.Number()), nil
	case events.DataTypeBoolean:
		return v.Boolean(), nil
	case events.DataTypeNull:
		return nil, nil
	case events.DataTypeBinary:
		return v.Binary(), nil
	case events.DataTypeStringSet:
		return v.StringSet(), nil
	case events.DataTypeBinarySet:
		return v.BinarySet(), nil
	case events.DataTypeNumberSet:
		ns := v.NumberSet()
		out := make([]json.Number, len(ns))
		for i, n := range ns {
			out[i] = json.Number(n)
		}
		return out, nil
	case events.DataTypeList:
		l := v.List()
		out := make([]any, len(l))
		for i, e := range l {
			p, err := plain(e)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	case events.DataTypeMap:
		return plainItem(v.Map())
	}
	return nil, errors.New("unknown DynamoDB data type")
}
