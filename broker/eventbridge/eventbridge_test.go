package eventbridge_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/eventbridge"
	"github.com/swarm-go/swarm/emit"
)

// No EventBridge emulator exists, so these tests run the real SDK against
// an httptest server that decodes the PutEvents requests it sends (AWS JSON
// 1.1, X-Amz-Target AWSEvents.PutEvents) and answers as EventBridge does.

type entry struct {
	Source, DetailType, Detail, EventBusName string
}

type fakeBus struct {
	t     *testing.T
	mu    sync.Mutex
	calls [][]entry
	// fail returns the error code of an entry on its n-th arrival (1 on
	// the first), or "" to accept it.
	fail func(e entry, n int) string
	seen map[string]int
}

func newFakeBus(t *testing.T, fail func(entry, int) string) (*fakeBus, *httptest.Server) {
	b := &fakeBus{t: t, fail: fail, seen: map[string]int{}}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return b, srv
}

func (b *fakeBus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("X-Amz-Target"); got != "AWSEvents.PutEvents" {
		b.t.Errorf("X-Amz-Target = %q", got)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		b.t.Errorf("Content-Type = %q", ct)
	}
	var in struct{ Entries []entry }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		b.t.Errorf("decode PutEvents: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	var out struct {
		FailedEntryCount int
		Entries          []result
	}
	b.mu.Lock()
	b.calls = append(b.calls, in.Entries)
	for i, e := range in.Entries {
		b.seen[e.Detail]++
		if code := b.fail(e, b.seen[e.Detail]); code != "" {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: code, ErrorMessage: "failed on purpose"})
			continue
		}
		out.Entries = append(out.Entries, result{EventId: fmt.Sprintf("ev-%d-%d", len(b.calls), i)})
	}
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func accept(entry, int) string { return "" }

type Note struct {
	Seq  int    `json:"seq"`
	Text string `json:"text"`
}

func open(t *testing.T, srv *httptest.Server, errs chan error, opts ...eventbridge.Option) *eventbridge.Emitter {
	t.Helper()
	kopts := []swarm.Option{swarm.WithRetry(swarm.ConstantBackoff(10*time.Millisecond, 3))}
	if errs != nil {
		kopts = append(kopts, swarm.WithStdErr(errs))
	}
	q, err := eventbridge.NewEmitter(append([]eventbridge.Option{
		eventbridge.WithEndpoint(srv.URL), eventbridge.WithKernel(kopts...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestMappingAndCountLimit(t *testing.T) {
	bus, srv := newFakeBus(t, accept)
	q := open(t, srv, nil, eventbridge.WithSource("com.example.orders"), eventbridge.WithEventBus("orders"))
	enq, _ := emit.Typed[Note](q)
	for i := range 25 {
		enq <- Note{Seq: i}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	for _, call := range bus.calls {
		if len(call) > eventbridge.MaxEntries {
			t.Errorf("a PutEvents call has %d entries", len(call))
		}
		for _, e := range call {
			var n Note
			if err := json.Unmarshal([]byte(e.Detail), &n); err != nil {
				t.Fatalf("Detail %q: %v", e.Detail, err)
			}
			if e.DetailType != "Note" || e.Source != "com.example.orders" || e.EventBusName != "orders" {
				t.Errorf("entry %+v: want DetailType Note, Source com.example.orders, bus orders", e)
			}
			got[n.Seq] = true
		}
	}
	if len(got) != 25 || len(bus.calls) < 3 {
		t.Fatalf("%d distinct events in %d calls, want 25 in at least 3", len(got), len(bus.calls))
	}
}

func TestByteLimit(t *testing.T) {
	bus, srv := newFakeBus(t, accept)
	q := open(t, srv, nil)
	enq, dlq := emit.Typed[Note](q)
	text := strings.Repeat("x", 100<<10)
	for i := range 6 {
		enq <- Note{Seq: i, Text: text}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if v, open := <-dlq; open {
		t.Fatalf("dead-lettered %d", v.Seq)
	}
	total := 0
	for _, call := range bus.calls {
		size := 0
		for _, e := range call {
			size += len(e.Source) + len(e.DetailType) + len(e.Detail)
		}
		if size > eventbridge.MaxCallBytes {
			t.Errorf("a PutEvents call carries %d bytes, over %d", size, eventbridge.MaxCallBytes)
		}
		total += len(call)
	}
	if total != 6 || len(bus.calls) < 3 {
		t.Fatalf("%d events in %d calls, want 6 in at least 3 (two 100 KiB events per call)", total, len(bus.calls))
	}
}

// TestPartialFailure: an entry failed with a transient code is retried
// alone; one failed with a code meaning it is bad is dead-lettered without
// a retry; the rest of its call is not sent again.
func TestPartialFailure(t *testing.T) {
	bus, srv := newFakeBus(t, func(e entry, n int) string {
		switch {
		case strings.Contains(e.Detail, `"seq":3,`) && n == 1:
			return "InternalFailure"
		case strings.Contains(e.Detail, `"seq":5,`):
			return "MalformedDetail"
		}
		return ""
	})
	errs := make(chan error, 16)
	q := open(t, srv, errs, eventbridge.WithSendConcurrency(1))
	enq, dlq := emit.Typed[Note](q)
	for i := range 8 {
		enq <- Note{Seq: i}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	var dead []int
	for v := range dlq {
		dead = append(dead, v.Seq)
	}
	if len(dead) != 1 || dead[0] != 5 {
		t.Fatalf("dead letters %v, want [5]", dead)
	}
	for detail, n := range bus.seen {
		want := 1
		if strings.Contains(detail, `"seq":3,`) {
			want = 2
		}
		if n != want {
			t.Errorf("%s sent %d times, want %d", detail, n, want)
		}
	}
	timeout := time.After(time.Second)
	for reported := false; !reported; {
		select {
		case err := <-errs:
			reported = strings.Contains(err.Error(), "MalformedDetail")
		case <-timeout:
			t.Fatal("the dead-lettered event was not reported")
		}
	}
}

func TestRejectsNonJSON(t *testing.T) {
	bus, srv := newFakeBus(t, accept)
	errs := make(chan error, 16)
	q := open(t, srv, errs)
	codec := swarm.NewCodecBytes("blob")
	enq, dlq := emit.Bytes(q, codec)
	enq <- []byte("not json")
	enq <- []byte(`[1, 2]`)
	enq <- []byte(`{"ok": true}`)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	dead := 0
	for range dlq {
		dead++
	}
	if dead != 2 {
		t.Fatalf("%d dead letters, want the 2 non-object payloads", dead)
	}
	err := <-errs
	if !errors.Is(err, eventbridge.ErrNotJSON) {
		t.Errorf("reported %v, want ErrNotJSON", err)
	}
	if len(bus.seen) != 1 || bus.seen[`{"ok": true}`] != 1 {
		t.Errorf("the server got %v, want only the JSON object", bus.seen)
	}
}
