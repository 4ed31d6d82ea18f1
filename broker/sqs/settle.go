package sqs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/swarm-go/swarm/broker/sqs/sqswire"
)

// settleAttempts bounds the calls made for one batch entry that fails by
// no fault of the sender; the kernel does not retry settlements.
const settleAttempts = 3

// Ack deletes the messages (DeleteMessageBatch).
func (d *driver) Ack(ctx context.Context, handles []any) error {
	return d.settle(ctx, "DeleteMessageBatch", handles, d.deleteCall)
}

// Nack makes the messages visible again after delay, rounded to whole
// seconds (ChangeMessageVisibilityBatch); 0 makes them visible at once.
func (d *driver) Nack(ctx context.Context, handles []any, delay time.Duration) error {
	secs := int32(min(max((delay+time.Second/2)/time.Second, 0), 43200))
	return d.settle(ctx, "ChangeMessageVisibilityBatch", handles, d.visibilityCall(secs))
}

// Extend keeps the messages invisible for lease from now, rounded up to
// whole seconds (ChangeMessageVisibilityBatch).
func (d *driver) Extend(ctx context.Context, handles []any, lease time.Duration) error {
	secs := int32(leaseOf(lease) / time.Second)
	return d.settle(ctx, "ChangeMessageVisibilityBatch", handles, d.visibilityCall(secs))
}

// DeadLetter sends the messages, body and attributes unchanged, to the
// dead-letter queue, then deletes those that arrived there from the queue.
// A message that could not be sent stays on the queue and comes back.
func (d *driver) DeadLetter(ctx context.Context, handles []any) error {
	msgs, err := d.messages(handles)
	if err != nil {
		return err
	}
	dlq, err := d.deadLetterURL(ctx)
	if err != nil {
		return err
	}
	dlqFIFO := strings.HasSuffix(d.dlqName, ".fifo")
	sizes := make([]int, len(msgs))
	for i, m := range msgs {
		sizes[i] = len(aws.ToString(m.Body))
		for name, v := range m.MessageAttributes {
			sizes[i] += len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
		}
	}
	var errs []error
	var moved []any
	for _, c := range d.calls(sizes) {
		part := msgs[c[0]:c[1]]
		send := func(ctx context.Context, idx []int) ([]types.BatchResultErrorEntry, error) {
			entries := make([]types.SendMessageBatchRequestEntry, len(idx))
			for j, i := range idx {
				m := part[i]
				entries[j] = types.SendMessageBatchRequestEntry{
					Id:                aws.String(strconv.Itoa(i)),
					MessageBody:       m.Body,
					MessageAttributes: m.MessageAttributes,
				}
				if dlqFIFO {
					g := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
					if g == "" {
						g = "swarm"
					}
					entries[j].MessageGroupId = aws.String(g)
					entries[j].MessageDeduplicationId = aws.String(sqswire.DedupID(aws.ToString(m.MessageId)))
				}
			}
			out, err := d.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(dlq), Entries: entries})
			if err != nil {
				return nil, err
			}
			return out.Failed, nil
		}
		failed, err := d.retry(ctx, "SendMessageBatch to the dead-letter queue", len(part), send)
		if err != nil {
			errs = append(errs, err)
		}
		for i, m := range part {
			if !failed[i] {
				moved = append(moved, m)
			}
		}
	}
	if len(moved) > 0 {
		if err := d.Ack(ctx, moved); err != nil {
			errs = append(errs, fmt.Errorf("delete after dead-lettering (the messages may come back and be dead-lettered twice): %w", err))
		}
	}
	return errors.Join(errs...)
}

// deadLetterURL looks up (and, when allowed, creates) the dead-letter queue
// once.
func (d *driver) deadLetterURL(ctx context.Context) (string, error) {
	d.dlqMu.Lock()
	defer d.dlqMu.Unlock()
	if d.dlqURL != "" {
		return d.dlqURL, nil
	}
	cctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
	defer cancel()
	u, err := d.queueURL(cctx, d.dlqName, d.cfg.create)
	if err != nil {
		return "", fmt.Errorf("dead-letter queue of %s: %w", d.where, err)
	}
	d.dlqURL = u
	return u, nil
}

type batchCall func(ctx context.Context, idx []int) ([]types.BatchResultErrorEntry, error)

// settle runs call on the receipt handles of handles in calls of at most 10.
func (d *driver) settle(ctx context.Context, op string, handles []any, call func([]*types.Message) batchCall) error {
	msgs, err := d.messages(handles)
	if err != nil {
		return err
	}
	var errs []error
	for start := 0; start < len(msgs); start += batchMax {
		part := msgs[start:min(start+batchMax, len(msgs))]
		if _, err := d.retry(ctx, op, len(part), call(part)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *driver) deleteCall(msgs []*types.Message) batchCall {
	return func(ctx context.Context, idx []int) ([]types.BatchResultErrorEntry, error) {
		entries := make([]types.DeleteMessageBatchRequestEntry, len(idx))
		for j, i := range idx {
			entries[j] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msgs[i].ReceiptHandle}
		}
		out, err := d.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(d.url), Entries: entries})
		if err != nil {
			return nil, err
		}
		return out.Failed, nil
	}
}

func (d *driver) visibilityCall(secs int32) func([]*types.Message) batchCall {
	return func(msgs []*types.Message) batchCall {
		return func(ctx context.Context, idx []int) ([]types.BatchResultErrorEntry, error) {
			entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(idx))
			for j, i := range idx {
				entries[j] = types.ChangeMessageVisibilityBatchRequestEntry{
					Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msgs[i].ReceiptHandle, VisibilityTimeout: secs,
				}
			}
			out, err := d.c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(d.url), Entries: entries})
			if err != nil {
				return nil, err
			}
			return out.Failed, nil
		}
	}
}

// retry calls call with entries 0..n-1, then again with those that failed
// by no fault of the sender, up to settleAttempts calls. Each entry is
// judged on its own: a batch call may succeed for some entries and fail for
// others. It returns the entries that finally failed and an error naming
// how many and why.
func (d *driver) retry(ctx context.Context, op string, n int, call batchCall) (map[int]bool, error) {
	pending := make([]int, n)
	for i := range pending {
		pending[i] = i
	}
	failed := map[int]bool{}
	var errs []error
	for attempt := 1; len(pending) > 0; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
		bad, err := call(cctx, pending)
		cancel()
		if err != nil {
			for _, i := range pending {
				failed[i] = true
			}
			errs = append(errs, d.callErr(op, err))
			break
		}
		var again []int
		for _, f := range bad {
			i, convErr := strconv.Atoi(aws.ToString(f.Id))
			if convErr != nil || i < 0 || i >= n {
				continue
			}
			if !f.SenderFault && attempt < settleAttempts && ctx.Err() == nil {
				again = append(again, i)
				continue
			}
			failed[i] = true
			if len(errs) < 3 {
				errs = append(errs, d.entryErr(op, f))
			}
		}
		pending = again
		if len(pending) > 0 {
			t := time.NewTimer(time.Duration(attempt) * 50 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	if len(failed) == 0 {
		return nil, nil
	}
	return failed, fmt.Errorf("%d of %d messages failed: %w", len(failed), n, errors.Join(errs...))
}

// messages checks that every handle came from this driver's Receive.
func (d *driver) messages(handles []any) ([]*types.Message, error) {
	msgs := make([]*types.Message, len(handles))
	for i, h := range handles {
		m, ok := h.(*types.Message)
		if !ok || m == nil {
			return nil, fmt.Errorf("sqs %s: handle %T was not received by this broker", d.where, h)
		}
		msgs[i] = m
	}
	return msgs, nil
}
