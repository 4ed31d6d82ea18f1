package sns

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	"github.com/swarm-go/swarm/broker/sqs/sqswire"
	"github.com/swarm-go/swarm/kernel"
)

// Message attributes set on every message: swarm's wire format on SQS
// (package broker/sqs/sqswire), which broker/sqs reads back on a
// subscribed queue.
const (
	// CategoryAttr carries the message's category; filter policies route
	// on it.
	CategoryAttr = sqswire.CategoryAttr
	// IDAttr carries the id the emitter gave the message.
	IDAttr = sqswire.IDAttr
	// EncodingAttr is "base64" when the payload is not valid SQS text (SNS
	// messages are strings, delivered to queues as SQS bodies), "empty" for
	// an empty payload.
	EncodingAttr = sqswire.EncodingAttr
)

const (
	// MaxPayload is the SNS limit on one message, body and attributes, and
	// on one PublishBatch call.
	MaxPayload = 256 * 1024
	// batchMax is the SNS limit on entries per PublishBatch call.
	batchMax = 10
)

// driver is the kernel's port onto one topic: a Sender only.
type driver struct {
	c     *sns.Client
	http  *http.Client // nil when the HTTP client is the caller's
	cfg   config
	where string
	arn   string

	fifo         bool
	contentDedup bool
}

// topicArn creates the topic (idempotent) or, when creating is off, finds
// it by name.
func (d *driver) topicArn(ctx context.Context, name string) (string, error) {
	if d.cfg.create {
		in := &sns.CreateTopicInput{Name: aws.String(name)}
		if strings.HasSuffix(name, ".fifo") {
			in.Attributes = map[string]string{"FifoTopic": "true"}
		}
		out, err := d.c.CreateTopic(ctx, in)
		if err != nil {
			return "", fmt.Errorf("sns: create topic %s: %w", d.where, err)
		}
		return aws.ToString(out.TopicArn), nil
	}
	p := sns.NewListTopicsPaginator(d.c, &sns.ListTopicsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("sns: list topics to find %s: %w", d.where, err)
		}
		for _, t := range page.Topics {
			if arn := aws.ToString(t.TopicArn); strings.HasSuffix(arn, ":"+name) {
				return arn, nil
			}
		}
	}
	return "", fmt.Errorf("sns: topic %s does not exist (and WithCreateTopic is off)", d.where)
}

func (d *driver) inspect(ctx context.Context) error {
	out, err := d.c.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(d.arn)})
	if err != nil {
		return fmt.Errorf("sns: read the attributes of %s: %w", d.where, err)
	}
	d.fifo = out.Attributes["FifoTopic"] == "true"
	d.contentDedup = out.Attributes["ContentBasedDeduplication"] == "true"
	return nil
}

// Capabilities declares an ordered (FIFO) or concurrent (standard) sender.
func (d *driver) Capabilities() kernel.Capabilities {
	conc := d.cfg.sendConcurrency
	if d.fifo {
		conc = 1
	}
	return kernel.Capabilities{
		Ordered:         d.fifo,
		Persistent:      true,
		SendConcurrency: conc,
		MaxBatch:        d.cfg.batchSize,
		MaxBatchBytes:   MaxPayload,
		MaxPayload:      MaxPayload,
	}
}

// Send publishes batch with PublishBatch, in calls of at most the batch size
// and MaxPayload bytes made one after the other (a FIFO topic keeps their
// order). Each entry's failure is its own; those the sender caused are
// permanent.
func (d *driver) Send(ctx context.Context, batch []kernel.Envelope) []error {
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(batch))
		}
		errs[i] = err
	}
	entries := make([]types.PublishBatchRequestEntry, 0, len(batch))
	sizes := make([]int, 0, len(batch))
	for i := range batch {
		env := &batch[i]
		// SNS allows as many message attributes as SQS, 10.
		body, encoding := sqswire.EncodeBody(env.Payload)
		attrs, attrSize, err := sqswire.EncodeAttrs(env, encoding)
		if err != nil {
			fail(i, err)
			continue
		}
		size := len(body) + attrSize
		if size > MaxPayload {
			fail(i, fmt.Errorf("%w: %d bytes with its encoding and attributes, the limit of %s is %d",
				kernel.ErrTooLarge, size, d.where, MaxPayload))
			continue
		}
		e := types.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), Message: aws.String(body), MessageAttributes: snsAttrs(attrs)}
		if d.fifo {
			e.MessageGroupId = aws.String(sqswire.GroupID(env, d.cfg.groupAttr))
			if !d.contentDedup {
				e.MessageDeduplicationId = aws.String(sqswire.DedupID(env.ID))
			}
		}
		entries = append(entries, e)
		sizes = append(sizes, size)
	}
	start, bytes := 0, 0
	for j := 0; j <= len(entries); j++ {
		if j == len(entries) || j-start == d.cfg.batchSize || (j > start && bytes+sizes[j] > MaxPayload) {
			if j > start {
				d.publish(ctx, entries[start:j], fail)
			}
			start, bytes = j, 0
		}
		if j < len(entries) {
			bytes += sizes[j]
		}
	}
	return errs
}

func (d *driver) publish(ctx context.Context, entries []types.PublishBatchRequestEntry, fail func(int, error)) {
	cctx, cancel := d.requestCtx(ctx)
	out, err := d.c.PublishBatch(cctx, &sns.PublishBatchInput{TopicArn: aws.String(d.arn), PublishBatchRequestEntries: entries})
	cancel()
	if err != nil {
		err = d.callErr(err)
		for _, e := range entries {
			fail(entryPos(e.Id), err)
		}
		return
	}
	answered := make(map[string]bool, len(entries))
	for _, s := range out.Successful {
		answered[aws.ToString(s.Id)] = true
	}
	for _, f := range out.Failed {
		answered[aws.ToString(f.Id)] = true
		err := fmt.Errorf("sns PublishBatch on %s: %s: %s", d.where, aws.ToString(f.Code), aws.ToString(f.Message))
		if f.SenderFault {
			if strings.Contains(aws.ToString(f.Message), "too long") {
				err = fmt.Errorf("%w: %w", kernel.ErrTooLarge, err)
			}
			err = kernel.Permanent(err)
		}
		fail(entryPos(f.Id), err)
	}
	// Never assume an entry the answer does not name was published.
	for _, e := range entries {
		if !answered[aws.ToString(e.Id)] {
			fail(entryPos(e.Id), fmt.Errorf("sns PublishBatch on %s: no result for the message", d.where))
		}
	}
}

func entryPos(id *string) int {
	n, _ := strconv.Atoi(aws.ToString(id))
	return n
}

// callErr wraps the error of a whole call; one the caller caused (other
// than throttling) is permanent.
func (d *driver) callErr(err error) error {
	wrapped := fmt.Errorf("sns PublishBatch on %s: %w", d.where, err)
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorFault() == smithy.FaultClient && !strings.Contains(api.ErrorCode(), "Throttl") {
		return kernel.Permanent(wrapped)
	}
	return wrapped
}

// Close drops the idle connections of the emitter's own HTTP client.
func (d *driver) Close() error {
	d.close()
	return nil
}

func (d *driver) close() {
	if d.http != nil {
		d.http.CloseIdleConnections()
	}
}

// snsAttrs turns the attributes sqswire.EncodeAttrs made into SNS String
// message attributes, which SNS delivers to SQS queues as they are.
func snsAttrs(plain map[string]string) map[string]types.MessageAttributeValue {
	attrs := make(map[string]types.MessageAttributeValue, len(plain))
	for name, value := range plain {
		attrs[name] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(value)}
	}
	return attrs
}
