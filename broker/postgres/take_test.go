package postgres

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/swarm-go/swarm/kernel"
)

// TestTakeFields: a take hands every row its own category, id, payload and
// handle, though it copies them into a few shared allocations: payloads of
// any size (one larger than a slab, one empty), categories that change from
// row to row, and payloads that do not overlap (appending to one must not
// write over the next).
func TestTakeFields(t *testing.T) {
	dsn := localServer(t)
	queue := "st-take-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	b, err := New(queue, WithDSN(dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d, ctx := b.d, context.Background()
	sent := []kernel.Envelope{
		{Category: "a", ID: "id-0", Payload: []byte("zero")},
		{Category: "a", ID: "id-1", Payload: []byte{}},
		{Category: "b", ID: "id-22", Payload: bytes.Repeat([]byte{0xfe}, payloadSlab+100)},
		{Category: "a", ID: "id-333", Payload: []byte("three")},
		{Category: "c", ID: "id-4", Payload: []byte("four"), Attrs: map[string]string{"k": "v"}},
	}
	if errs := d.Send(ctx, sent); errs != nil {
		t.Fatal(errs[0])
	}
	envs := received(t, d, 10)
	if len(envs) != len(sent) {
		t.Fatalf("took %d, want %d", len(envs), len(sent))
	}
	for i := range envs {
		envs[i].Payload = append(envs[i].Payload, '!') // must not reach envs[i+1]
	}
	seen := map[*handle]bool{}
	for i, got := range envs {
		want := sent[i]
		if got.Category != want.Category || got.ID != want.ID || !bytes.Equal(got.Payload, append(want.Payload, '!')) || got.Attrs["k"] != want.Attrs["k"] {
			t.Errorf("row %d: got %q %q %d bytes %v, want %q %q %d bytes %v", i, got.Category, got.ID, len(got.Payload), got.Attrs,
				want.Category, want.ID, len(want.Payload)+1, want.Attrs)
		}
		h, ok := got.Handle.(*handle)
		if !ok || seen[h] || h.attempt != 1 {
			t.Errorf("row %d: handle %#v, want its own, of attempt 1", i, got.Handle)
		}
		seen[h] = true
	}
	hs := make([]any, len(envs))
	for i := range envs {
		hs[i] = envs[i].Handle
	}
	if err := d.Ack(ctx, hs); err != nil {
		t.Fatal(err)
	}
}
