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
// its context's error, and the wait says not all settled (so the records
// are not reused).
func TestOutcome(t *testing.T) {
	recs := make([]kgo.Record, 4)
	o := newOutcome(recs)
	for _, i := range []int{1, 0, 3, 2} {
		var err error
		if i == 3 {
			err = kerr.MessageTooLarge
		}
		o.promise(&recs[i], err)
	}
	errs, all := o.wait(context.Background())
	if !all || len(errs) != 4 || errs[0] != nil || errs[1] != nil || errs[2] != nil ||
		!errors.Is(errs[3], kerr.MessageTooLarge) || !kernel.IsPermanent(errs[3]) {
		t.Fatalf("errors %v (all settled: %v), want a permanent MessageTooLarge for record 3 only", errs, all)
	}
	o = newOutcome(recs)
	for i := range recs {
		o.promise(&recs[i], nil)
	}
	if errs, all := o.wait(context.Background()); errs != nil || !all {
		t.Errorf("all accepted: errors %v, all settled %v, want nil and true", errs, all)
	}

	for _, order := range [][]int{{2, 0}, {0, 2}, {0, 1}} {
		o = newOutcome(recs)
		for _, i := range order {
			o.promise(&recs[i], nil)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		errs, all = o.wait(ctx)
		cancel()
		for i := range recs {
			pending := i != order[0] && i != order[1]
			if all || len(errs) != 4 || errors.Is(errs[i], context.DeadlineExceeded) != pending {
				t.Fatalf("settled %v: errors %v (all settled: %v), want deadline errors for the others only", order, errs, all)
			}
		}
	}
}

// TestSendAsyncErrorsByEnvelope: with a refused envelope among others, each
// error lands at its envelope's index: the refused one's permanent, the
// others' the delivery timeout's (no cluster answers).
func TestSendAsyncErrorsByEnvelope(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.RecordDeliveryTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := defaultConfig()
	c.delivery = 200 * time.Millisecond
	d := newDriver(c, kernel.Config{}, "t", cl)
	batch := []kernel.Envelope{
		{Category: "A", ID: "1", Payload: []byte("1")},
		{Category: "A", ID: "2", Payload: []byte("2"), Attrs: map[string]string{"swarm-x": "bad"}},
		{Category: "A", ID: "3", Payload: []byte("3")},
	}
	errs := d.SendAsync(context.Background(), batch)()
	if len(errs) != 3 || !kernel.IsPermanent(errs[1]) || errors.Is(errs[1], context.DeadlineExceeded) {
		t.Fatalf("errors %v, want the refused envelope's permanent error at 1", errs)
	}
	for _, i := range []int{0, 2} {
		if !errors.Is(errs[i], context.DeadlineExceeded) {
			t.Errorf("envelope %d: %v, want the delivery timeout", i, errs[i])
		}
	}
}
