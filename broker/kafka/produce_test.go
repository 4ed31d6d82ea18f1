package kafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/swarm-go/swarm/kernel"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCategoryTravelsAsKey: a record keyed by its category carries no
// category header and reads back with its key as category; keyed by an
// attribute it carries the header. Records of the earlier layout (always a
// header) and records of other producers (no swarm-id) read as before.
func TestCategoryTravelsAsKey(t *testing.T) {
	headers := func(r *kgo.Record) map[string]string {
		m := map[string]string{}
		for _, h := range r.Headers {
			m[h.Key] = string(h.Value)
		}
		return m
	}
	d := &driver{c: defaultConfig()}
	env := kernel.Envelope{Category: "Note", ID: "id-1", Payload: []byte("p")}
	r, err := d.record(context.Background(), "t", &env, 1)
	if err != nil {
		t.Fatal(err)
	}
	if h := headers(r); len(h) != 1 || h[headerID] != "id-1" {
		t.Errorf("keyed by its category, the record has headers %v, want %s only", h, headerID)
	}
	if got := envelope(r); got.Category != "Note" || got.ID != "id-1" {
		t.Errorf("read back as %+v", got)
	}

	c := defaultConfig()
	WithKeyAttr("tenant")(&c)
	keyed := &driver{c: c}
	env.Attrs = map[string]string{"tenant": "acme"}
	r, err = keyed.record(context.Background(), "t", &env, 1)
	if err != nil {
		t.Fatal(err)
	}
	if h := headers(r); string(r.Key) != "acme" || h[headerCategory] != "Note" {
		t.Errorf("keyed by an attribute: key %q, headers %v, want key acme and the category header", r.Key, h)
	}
	if got := envelope(r); got.Category != "Note" || got.Attrs["tenant"] != "acme" {
		t.Errorf("read back as %+v", got)
	}

	old := &kgo.Record{Key: []byte("other"), Value: []byte("p"), Headers: []kgo.RecordHeader{
		{Key: headerCategory, Value: []byte("Note")}, {Key: headerID, Value: []byte("id-2")}}}
	if got := envelope(old); got.Category != "Note" || got.ID != "id-2" {
		t.Errorf("record with a category header read as %+v", got)
	}
	foreign := &kgo.Record{Topic: "t", Key: []byte("Note"), Value: []byte("p")}
	if got := envelope(foreign); got.Category != "" || got.ID != "t/0@0" {
		t.Errorf("record of another producer read as %+v, want no category", got)
	}
}

// TestOutcome: promises arriving in any order settle the wait once all
// came; a failed record's error lands at its index, permanent when Kafka
// will repeat it; records still unsettled when the wait gives up fail with
// its context's error.
func TestOutcome(t *testing.T) {
	recs := make([]kgo.Record, 4)
	rs := []*kgo.Record{&recs[0], &recs[1], &recs[2], &recs[3]}
	o := newOutcome(rs)
	for _, i := range []int{1, 0, 3, 2} {
		var err error
		if i == 3 {
			err = kerr.MessageTooLarge
		}
		o.promise(rs[i], err)
	}
	errs := o.wait(context.Background())
	if len(errs) != 4 || errs[0] != nil || errs[1] != nil || errs[2] != nil ||
		!errors.Is(errs[3], kerr.MessageTooLarge) || !kernel.IsPermanent(errs[3]) {
		t.Fatalf("errors %v, want a permanent MessageTooLarge for record 3 only", errs)
	}
	if errs := newOutcomeSettled(rs).wait(context.Background()); errs != nil {
		t.Errorf("all accepted: errors %v, want nil", errs)
	}

	o = newOutcome(rs)
	o.promise(rs[2], nil)
	o.promise(rs[0], nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	errs = o.wait(ctx)
	if len(errs) != 4 || errs[0] != nil || errs[2] != nil ||
		!errors.Is(errs[1], context.DeadlineExceeded) || !errors.Is(errs[3], context.DeadlineExceeded) {
		t.Fatalf("errors %v, want deadline errors for the unsettled records 1 and 3", errs)
	}
}

// newOutcomeSettled is an outcome whose records were all accepted.
func newOutcomeSettled(rs []*kgo.Record) *outcome {
	o := newOutcome(rs)
	for _, r := range rs {
		o.promise(r, nil)
	}
	return o
}
