package sqs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/swarm-go/swarm/broker/sqs/sqswire"
	"github.com/swarm-go/swarm/kernel"
)

// driver is the kernel's port onto one queue.
type driver struct {
	c     *sqs.Client
	http  *http.Client // nil when the HTTP client is the caller's
	cfg   config
	name  string
	url   string
	where string // sqs://host/queue, for errors

	fifo         bool
	contentDedup bool
	maxPayload   int
	lease        time.Duration
	dlqName      string

	dlqMu  sync.Mutex
	dlqURL string
}

// batchMax is the SQS limit on entries per batch call and messages per
// receive.
const batchMax = 10

// Capabilities declares what the queue supports; see the package doc.
func (d *driver) Capabilities() kernel.Capabilities {
	conc := d.cfg.sendConcurrency
	if d.fifo {
		conc = 1
	}
	return kernel.Capabilities{
		Ordered:        d.fifo,
		Persistent:     true,
		Redelivery:     true,
		Delay:          true,
		ConsumerGroups: true,
		// On a FIFO queue a message group (the category, or the group key)
		// goes to one consumer at a time: one that holds messages of a
		// group unsettled holds the group, as a partition.
		Partitioned:     d.fifo,
		LongPoll:        d.cfg.waitTime > 0,
		Receivers:       d.cfg.receivers,
		SendConcurrency: conc,
		// Each receiver brings up to 10 messages a poll, and each
		// DeleteMessageBatch settles at most 10: one delete call at a time
		// would hold the receivers back to its round trip.
		SettleConcurrency: 2 * d.cfg.receivers,
		MaxBatch:          batchMax,
		MaxBatchBytes:     d.maxPayload,
		MaxPayload:        d.maxPayload,
		Lease:             d.lease,
	}
}

// Send publishes batch with SendMessageBatch, in calls of at most 10
// messages and maxPayload bytes (as SQS counts them: body and attributes),
// sent one after the other so that a FIFO queue keeps their order. Entries
// that fail are reported one by one; those the sender caused (too large,
// invalid) are permanent.
func (d *driver) Send(ctx context.Context, batch []kernel.Envelope) []error {
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(batch))
		}
		errs[i] = err
	}
	entries := make([]types.SendMessageBatchRequestEntry, 0, len(batch))
	sizes := make([]int, 0, len(batch))
	for i := range batch {
		env := &batch[i]
		body, encoding := sqswire.EncodeBody(env.Payload)
		attrs, attrSize, err := encodeAttrs(env, encoding)
		if err != nil {
			fail(i, err)
			continue
		}
		if size := len(body) + attrSize; size > d.maxPayload {
			fail(i, fmt.Errorf("%w: %d bytes with its encoding and attributes, the limit of %s is %d",
				kernel.ErrTooLarge, size, d.where, d.maxPayload))
			continue
		}
		e := types.SendMessageBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(i)),
			MessageBody:       aws.String(body),
			MessageAttributes: attrs,
		}
		if d.fifo {
			e.MessageGroupId = aws.String(sqswire.GroupID(env, d.cfg.groupAttr))
			if !d.contentDedup {
				e.MessageDeduplicationId = aws.String(sqswire.DedupID(env.ID))
			}
		}
		entries = append(entries, e)
		sizes = append(sizes, len(body)+attrSize)
	}
	for _, c := range d.calls(sizes) {
		d.sendCall(ctx, entries[c[0]:c[1]], fail)
	}
	return errs
}

// calls splits messages of the given sizes into [start, end) ranges that fit
// one batch call: at most 10 messages and maxPayload bytes.
func (d *driver) calls(sizes []int) [][2]int {
	var out [][2]int
	start, bytes := 0, 0
	for j, n := range sizes {
		if j-start == batchMax || (j > start && bytes+n > d.maxPayload) {
			out = append(out, [2]int{start, j})
			start, bytes = j, 0
		}
		bytes += n
	}
	if start < len(sizes) {
		out = append(out, [2]int{start, len(sizes)})
	}
	return out
}

// sendCall makes one SendMessageBatch call and records the failed entries
// by their batch position (the entry id).
func (d *driver) sendCall(ctx context.Context, entries []types.SendMessageBatchRequestEntry, fail func(int, error)) {
	cctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
	out, err := d.c.SendMessageBatch(cctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(d.url), Entries: entries})
	cancel()
	if err != nil {
		err = d.callErr("SendMessageBatch", err)
		for _, e := range entries {
			fail(entryPos(e.Id), err)
		}
		return
	}
	for _, f := range out.Failed {
		fail(entryPos(f.Id), d.entryErr("SendMessageBatch", f))
	}
	if len(out.Successful)+len(out.Failed) != len(entries) {
		// Never assume an entry the answer does not name was accepted.
		answered := make(map[string]bool, len(entries))
		for _, s := range out.Successful {
			answered[aws.ToString(s.Id)] = true
		}
		for _, f := range out.Failed {
			answered[aws.ToString(f.Id)] = true
		}
		for _, e := range entries {
			if !answered[aws.ToString(e.Id)] {
				fail(entryPos(e.Id), fmt.Errorf("sqs SendMessageBatch on %s: no result for the message", d.where))
			}
		}
	}
}

func entryPos(id *string) int {
	n, _ := strconv.Atoi(aws.ToString(id))
	return n
}

// Receive long-polls for up to max messages (at most 10). The call is not
// cancelled with ctx: a poll abandoned mid-way would leave the messages it
// takes invisible for a whole lease, while the kernel releases at once what
// a Receive returns after ctx ended. It is bounded by the wait time instead.
func (d *driver) Receive(ctx context.Context, n int) ([]kernel.Envelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in := &sqs.ReceiveMessageInput{
		QueueUrl:              aws.String(d.url),
		MaxNumberOfMessages:   int32(min(max(n, 1), batchMax)),
		WaitTimeSeconds:       int32(d.cfg.waitTime / time.Second),
		VisibilityTimeout:     int32(d.lease / time.Second),
		MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
		},
	}
	if d.fifo {
		in.MessageSystemAttributeNames = append(in.MessageSystemAttributeNames, types.MessageSystemAttributeNameMessageGroupId)
		// The SDK retries a failed call with the same attempt id, so a
		// retry gets the same messages instead of hiding them.
		in.ReceiveRequestAttemptId = aws.String(sqswire.DedupID(""))
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.waitTime+d.cfg.requestTimeout)
	out, err := d.c.ReceiveMessage(cctx, in)
	cancel()
	if err != nil {
		return nil, d.callErr("ReceiveMessage", err)
	}
	envs := make([]kernel.Envelope, len(out.Messages))
	for i := range out.Messages {
		m := &out.Messages[i]
		envs[i] = decode(m, d.cfg.defaultCategory)
		envs[i].Handle = m
	}
	return envs, nil
}

// Close drops the idle connections of the broker's own HTTP client.
func (d *driver) Close() error {
	d.close()
	return nil
}

func (d *driver) close() {
	if d.http != nil {
		d.http.CloseIdleConnections()
	}
}

// callErr wraps the error of a whole call with the operation and queue. An
// error the caller caused (other than throttling) is marked permanent, so
// the kernel does not retry it.
func (d *driver) callErr(op string, err error) error {
	wrapped := fmt.Errorf("sqs %s on %s: %w", op, d.where, err)
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorFault() == smithy.FaultClient && !throttled(api.ErrorCode()) {
		if api.ErrorCode() == "BatchRequestTooLong" {
			wrapped = fmt.Errorf("%w: %w", kernel.ErrTooLarge, wrapped)
		}
		return kernel.Permanent(wrapped)
	}
	return wrapped
}

func throttled(code string) bool {
	return strings.Contains(code, "Throttl") || code == "RequestThrottled" || code == "OverLimit" ||
		code == "KmsThrottled" || code == "ServiceUnavailable"
}

// entryErr is the error of one failed batch entry; permanent when the
// sender caused it.
func (d *driver) entryErr(op string, f types.BatchResultErrorEntry) error {
	err := fmt.Errorf("sqs %s on %s: %s: %s", op, d.where, aws.ToString(f.Code), aws.ToString(f.Message))
	if !f.SenderFault {
		return err
	}
	if strings.Contains(aws.ToString(f.Message), "shorter than") || strings.Contains(aws.ToString(f.Code), "TooLong") {
		err = fmt.Errorf("%w: %w", kernel.ErrTooLarge, err)
	}
	return kernel.Permanent(err)
}
