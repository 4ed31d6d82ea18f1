package kernel

import (
	"strconv"
	"testing"
)

// A batch's ids are the kernel's prefix and consecutive base-36 numbers,
// as NewID formats them, across the points where a digit carries.
func TestAssignIDs(t *testing.T) {
	for _, start := range []uint64{0, 8, 34, 35*36 + 30, 36*36*36 - 3, 1<<40 - 5} {
		k := &Kernel{idPrefix: "p-"}
		k.idSeq.Store(start)
		batch := make([]Envelope, 9)
		batch[4].ID = "kept"
		k.assignIDs(batch)
		next := start
		for i, env := range batch {
			want := "kept"
			if i != 4 {
				next++
				want = "p-" + strconv.FormatUint(next, 36)
			}
			if env.ID != want {
				t.Fatalf("from %d: id %d is %q, want %q", start, i, env.ID, want)
			}
		}
		if got := k.NewID(); got != "p-"+strconv.FormatUint(next+1, 36) {
			t.Fatalf("from %d: NewID after the batch is %q", start, got)
		}
	}
}
