package postgres

import (
	"fmt"
	"testing"

	"github.com/swarm-go/swarm/kernel"
)

// TestCopyRowsAllocations checks that a send's rows cost two allocations
// per batch, not some per message: cells stored as strings or slices in
// interfaces allocated four per row.
func TestCopyRowsAllocations(t *testing.T) {
	d := &driver{boxedQueue: "q"}
	batch := make([]kernel.Envelope, 100)
	for i := range batch {
		batch[i] = kernel.Envelope{Category: "c", ID: fmt.Sprint("id-", i), Payload: []byte("{}")}
	}
	if n := testing.AllocsPerRun(20, func() {
		if _, err := d.copyRows(batch); err != nil {
			t.Fatal(err)
		}
	}); n > 2 {
		t.Errorf("copyRows of %d messages made %v allocations, want 2 (the rows and their cells)", len(batch), n)
	}
}
