package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/swarm-go/swarm/kernel"
)

// orphanPage is how many pending entries one XPENDING of the orphan scan
// reads; orphanPages bounds the scan.
const (
	orphanPage  = 1000
	orphanPages = 100
)

// track records the ids handed to the kernel.
func (d *driver) track(envs []kernel.Envelope) {
	if len(envs) == 0 {
		return
	}
	d.outMu.Lock()
	for i := range envs {
		d.out[envs[i].Handle.(*delivery).id] = struct{}{}
	}
	d.outMu.Unlock()
}

// untrack forgets ids the kernel settled, whether or not the call settling
// them succeeded: a failure leaves them to the orphan scan.
func (d *driver) untrack(ids []string) {
	d.outMu.Lock()
	for _, id := range ids {
		delete(d.out, id)
	}
	d.outMu.Unlock()
}

// hold records ids released until due, so the orphan scan leaves them be.
// Entries already due are forgotten on the way: they are claimable by then.
func (d *driver) hold(ids []string, due time.Time) {
	now := time.Now().UnixNano()
	d.outMu.Lock()
	defer d.outMu.Unlock()
	if len(d.delayed) >= d.pruneAt {
		// Amortised: the map is swept when it has doubled since the last
		// sweep, so a Nack costs O(1) on average.
		for id, at := range d.delayed {
			if at <= now {
				delete(d.delayed, id)
			}
		}
		d.pruneAt = max(1024, 2*len(d.delayed))
	}
	for _, id := range ids {
		d.delayed[id] = due.UnixNano()
	}
}

// failed notes that a call failed, so the next Receive looks for entries
// lost in it, and returns err.
func (d *driver) failed(err error) error {
	if err != nil {
		d.orphans.Store(true)
	}
	return err
}

// releaseOrphans releases this consumer's pending entries that the kernel
// does not hold: read by a call whose reply was lost, or settled by a call
// that failed. It also finds what a previous process left under the same
// consumer name (WithConsumer).
func (d *driver) releaseOrphans(ctx context.Context) error {
	d.orphans.Store(false)
	start := "-"
	for range orphanPages {
		pe, err := d.c.XPendingExt(ctx, &goredis.XPendingExtArgs{
			Stream: d.stream, Group: d.group, Start: start, End: "+", Count: orphanPage, Consumer: d.consumer,
		}).Result()
		if err != nil {
			d.orphans.Store(true)
			return fmt.Errorf("XPENDING of consumer %q on stream %q group %q: %w", d.consumer, d.stream, d.group, err)
		}
		var lost []string
		now := time.Now().UnixNano()
		d.outMu.Lock()
		for _, p := range pe {
			if _, ok := d.out[p.ID]; ok || d.delayed[p.ID] > now {
				continue // held by the kernel, or released to come back later
			}
			lost = append(lost, p.ID)
		}
		d.outMu.Unlock()
		for len(lost) > 0 {
			n := min(len(lost), 256)
			if err := d.xclaim(ctx, lost[:n], releasedIdle); err != nil {
				d.orphans.Store(true)
				return fmt.Errorf("release lost entries on stream %q group %q: %w", d.stream, d.group, err)
			}
			lost = lost[n:]
			d.rescan.Store(true)
			d.claimBy(time.Now())
		}
		if len(pe) < orphanPage {
			return nil
		}
		start = "(" + pe[len(pe)-1].ID
	}
	return nil
}
