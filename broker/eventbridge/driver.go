package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
	"github.com/swarm-go/swarm/kernel"
)

// PutEvents limits.
const (
	// MaxEntries is the most entries one PutEvents call takes.
	MaxEntries = 10
	// MaxCallBytes bounds the summed entry sizes of one call, an entry's
	// size being its Source, DetailType and Detail in bytes (AWS's rule).
	MaxCallBytes = 256 << 10
)

// ErrNotJSON is the (permanent) error of a message whose payload is not a
// JSON object: EventBridge takes nothing else as Detail.
var ErrNotJSON = errors.New("eventbridge: the detail is not a JSON object; EventBridge only accepts JSON objects (use the JSON codec)")

type driver struct {
	c     *eventbridge.Client
	http  *http.Client
	cfg   config
	where string
}

// Capabilities: an emitter only; EventBridge promises no order.
func (d *driver) Capabilities() kernel.Capabilities {
	return kernel.Capabilities{
		SendConcurrency: d.cfg.sendConcurrency,
		MaxBatch:        MaxEntries,
		MaxBatchBytes:   MaxCallBytes - MaxEntries*len(d.cfg.source),
		MaxPayload:      MaxCallBytes - len(d.cfg.source),
	}
}

// entrySize is the size AWS counts for an entry.
func entrySize(source, detailType, detail string) int {
	return len(source) + len(detailType) + len(detail)
}

// Send puts batch with PutEvents, splitting it only where a call would pass
// 256 KiB. Payloads that are not JSON objects, or too large with their
// category, fail at once and for good; entries failed by EventBridge fail
// alone, retryable unless their error code says the entry itself is bad.
func (d *driver) Send(ctx context.Context, batch []kernel.Envelope) []error {
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(batch))
		}
		errs[i] = err
	}
	entries := make([]types.PutEventsRequestEntry, 0, len(batch))
	index := make([]int, 0, len(batch))
	size := 0
	flush := func() {
		if len(entries) == 0 {
			return
		}
		for j, err := range d.put(ctx, entries) {
			if err != nil {
				fail(index[j], err)
			}
		}
		entries, index, size = entries[:0], index[:0], 0
	}
	for i := range batch {
		env := &batch[i]
		if !isJSONObject(env.Payload) {
			fail(i, kernel.Permanent(fmt.Errorf("%w: category %s, id %s, on %s", ErrNotJSON, env.Category, env.ID, d.where)))
			continue
		}
		detail := string(env.Payload)
		n := entrySize(d.cfg.source, env.Category, detail)
		if n > MaxCallBytes {
			fail(i, kernel.Permanent(fmt.Errorf("eventbridge %s: event of %d bytes (source, detail type %q and detail) exceeds %d: %w",
				d.where, n, env.Category, MaxCallBytes, kernel.ErrTooLarge)))
			continue
		}
		if size+n > MaxCallBytes || len(entries) == MaxEntries {
			flush()
		}
		entries = append(entries, types.PutEventsRequestEntry{
			Source:       aws.String(d.cfg.source),
			DetailType:   aws.String(env.Category),
			Detail:       aws.String(detail),
			EventBusName: aws.String(d.cfg.bus),
		})
		index = append(index, i)
		size += n
	}
	flush()
	return errs
}

// isJSONObject reports whether p is one valid JSON object.
func isJSONObject(p []byte) bool {
	for _, c := range p {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return json.Valid(p)
		}
		return false
	}
	return false
}

// put makes one PutEvents call and returns nil when every entry was
// accepted, else one error per entry (nil where accepted).
func (d *driver) put(ctx context.Context, entries []types.PutEventsRequestEntry) []error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
	defer cancel()
	out, err := d.c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	errs := make([]error, len(entries))
	if err != nil {
		err = classify(fmt.Errorf("eventbridge: PutEvents to %s: %w", d.where, err))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if out.FailedEntryCount == 0 {
		return nil
	}
	for i, r := range out.Entries {
		if i < len(errs) && r.ErrorCode != nil {
			code := aws.ToString(r.ErrorCode)
			err := fmt.Errorf("eventbridge: PutEvents to %s: entry %d (detail type %q): %s: %s",
				d.where, i, aws.ToString(entries[i].DetailType), code, aws.ToString(r.ErrorMessage))
			if permanentCode(code) {
				err = kernel.Permanent(err)
			}
			errs[i] = err
		}
	}
	return errs
}

// permanentCode reports whether an entry's error code says the entry
// itself is bad, so that resending it cannot succeed.
func permanentCode(code string) bool {
	switch code {
	case "MalformedDetail", "InvalidArgument", "ValidationException", "AccessDeniedException",
		"NotAuthorizedForSourceException", "NotAuthorizedForDetailTypeException", "InvalidEventPatternException":
		return true
	}
	return false
}

// classify marks the call errors no retry can fix as permanent.
func classify(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ValidationException", "InvalidArgument", "AccessDeniedException", "ResourceNotFoundException",
			"UnrecognizedClientException", "SerializationException":
			return kernel.Permanent(err)
		}
	}
	return err
}

// Close drops the idle connections of the client the emitter built.
func (d *driver) Close() error {
	if d.http != nil {
		d.http.CloseIdleConnections()
	}
	return nil
}
