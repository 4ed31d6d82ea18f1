package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/swarm-go/swarm/kernel"
)

// A stream deleted under running brokers (by an operator, or lost with a
// memory-storage server's restart) is set up again by the first call that
// meets the loss. nats-server (2.11) makes that racy: deleting a stream
// first forgets its name (publishes then find no responders), stops its
// consumers (pulls then fail with "consumer deleted"), and only then removes
// the stream's directory, whatever it then holds. A stream created again
// with that name in between opens the old directory (its files, its
// consumer's state), which the deletion then removes under it. The new
// stream keeps storing into the block file it holds open; once it needs to
// open one it answers every publish with err_code 10077 ("error opening msg
// block file ... no such file or directory"), and stays so until deleted.
//
// No client sees when a deletion has finished, so recreate waits a little
// before creating a stream it found missing, and waits longer and creates
// it again when the new stream came up with messages older than itself
// (proof that the old directory was still there). What a slower deletion
// still breaks is repaired: a stream that cannot open its files and holds
// no message is deleted (this time waiting for the deletion to end) and
// created again with its configuration. One that still holds messages is
// left for its consumers to drain (deleting it would lose them); the first
// failing publish after that repairs it.
//
// Several brokers (processes) of one queue meet the loss at once, and each
// deletes only what it can tell is broken: recreate, a stream holding
// messages from before its creation (a stream another broker created in
// the meantime, idempotently returned by the create, holds none); repair,
// only the stream this broker last set up on (by its creation time), not
// one another broker has repaired since.

// errCodeStoreFailed is JetStream's err_code for a message its stream could
// not store; nats.go names no constant for it.
const errCodeStoreFailed jetstream.ErrorCode = 10077

// errCodeCreateFailed is JetStream's err_code for a stream it could not
// create (its store, for one, did not open).
const errCodeCreateFailed jetstream.ErrorCode = 10049

// filesGone is how nats-server describes a store failure whose block file
// it cannot open.
const filesGone = "error opening msg block file"

// Bounds of the wait between two setups after a loss (or two repairs):
// the first comes at once, and a setup that failed (a stream created while
// the deletion of the old one is still running can fail to open its store)
// is tried again soon, less often while it keeps failing.
const (
	resetupMin = 25 * time.Millisecond
	resetupMax = time.Second
)

// republishes bounds how often one Send publishes its failed messages again
// after the queue was set up again.
const republishes = 2

// streamLost reports the errors that say the stream or the consumer is gone.
func streamLost(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, natsgo.ErrNoResponders)
}

// streamBroken reports a publish refused by a stream whose files are gone.
// Other store failures (a limit of a stream with DiscardNew, a stream being
// deleted, whose store is closed) are left to the kernel's retries.
func streamBroken(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeStoreFailed &&
		strings.Contains(apiErr.Description, filesGone)
}

// recoverFrom sets the stream and consumer up again when err says they are
// gone, or repairs a stream whose files are gone (see above). seen is the
// setup generation (d.gen) in which the failed call started. It reports
// whether the queue was set up again since seen, by this call or another,
// so that the caller may retry at once; otherwise the kernel retries the
// failed call.
func (d *driver) recoverFrom(ctx context.Context, err error, seen uint64) bool {
	lost, broken := streamLost(err), streamBroken(err)
	if !lost && !broken {
		return false
	}
	d.setupMu.Lock()
	defer d.setupMu.Unlock()
	if d.gen.Load() != seen {
		return true // the failure may predate that setup
	}
	g := &d.resetup
	if broken {
		g = &d.repairs
	}
	if !g.open() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, d.apiTimeout)
	defer cancel()
	if broken {
		if err := d.repair(ctx); err != nil {
			g.failed()
			d.report(fmt.Errorf("nats: stream %s on %s cannot open its files: %w", d.stream.Name, d.where, err))
			return false
		}
	}
	if lost {
		if err := d.recreate(ctx); err != nil {
			g.failed()
			d.report(fmt.Errorf("nats: create stream %s again on %s: %w", d.stream.Name, d.where, err))
			return false
		}
	}
	if err := d.setup(ctx); err != nil {
		g.failed()
		d.report(fmt.Errorf("nats: set up %s again: %w", d.where, err))
		return false
	}
	g.done()
	d.gen.Add(1)
	return true
}

// gate spaces the setups after a loss: resetupMin after one that worked,
// twice the last wait (up to resetupMax) after one that failed. The
// driver's setupMu guards it.
type gate struct {
	next time.Time     // no setup before
	wait time.Duration // after the last failure
}

// open reports whether a setup may start now.
func (g *gate) open() bool { return !time.Now().Before(g.next) }

func (g *gate) done() {
	g.wait = 0
	g.next = time.Now().Add(resetupMin)
}

func (g *gate) failed() {
	g.wait = min(max(2*g.wait, resetupMin), resetupMax)
	g.next = time.Now().Add(g.wait)
}

// Bounds of the wait before creating again a stream found missing: long
// enough, mostly, for the server to finish deleting the old one.
const (
	settleMin = 50 * time.Millisecond
	settleMax = time.Second
)

// recreate creates the stream when it is missing, once the deletion of the
// old one seems over (see above). When the stream exists (only the consumer
// was lost, or another broker created it) it does nothing: setup goes on.
func (d *driver) recreate(ctx context.Context) error {
	for wait := settleMin; ; wait = min(2*wait, settleMax) {
		_, err := d.js.Stream(ctx, d.stream.Name)
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		s, err := d.create(ctx, d.stream)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil
		}
		if err != nil {
			return err
		}
		if !bornOld(s.CachedInfo()) {
			return nil
		}
		// Created on the old stream's directory, which its deletion is
		// about to remove.
		if err := d.js.DeleteStream(ctx, d.stream.Name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("delete it, created too early on the files of the old one: %w", err)
		}
	}
}

// bornOld reports whether a stream holds messages stored before it was
// created, by the server's clock: it was created on the directory of a
// deleted stream of that name.
func bornOld(info *jetstream.StreamInfo) bool {
	return info.State.LastSeq > 0 && info.State.LastTime.Before(info.Created)
}

// create creates the stream of cfg. The server can fail to open the store
// of a stream created while the directory of a deleted one of that name is
// being removed (err_code 10049); create tries again after a wait, until
// ctx ends.
func (d *driver) create(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	for wait := settleMin; ; wait = min(2*wait, settleMax) {
		s, err := d.js.CreateStream(ctx, cfg)
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeCreateFailed {
			return s, err
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%w (after %w)", err, apiErr)
		}
	}
}

// sleep waits for d or the end of ctx.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errStreamHolds refuses the repair of a stream that still holds messages.
var errStreamHolds = errors.New("it still holds messages, so swarm creates it again only once its consumers took them (deleting it, e.g. with `nats stream rm`, has swarm create it again at once, without them)")

// repair deletes the stream, which cannot open its files, and creates it
// again with its configuration, unless it holds messages or is not the one
// this broker set up on (another broker repaired it already). A stream that
// cannot open its block file stores nothing, so it cannot take a message
// between the check and the deletion. The caller holds setupMu.
func (d *driver) repair(ctx context.Context) error {
	s, err := d.js.Stream(ctx, d.stream.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // deleted meanwhile: setup creates it
	}
	if err != nil {
		return err
	}
	info := s.CachedInfo()
	if !info.Created.Equal(d.created) {
		return nil // created again since this broker's setup: setup takes it
	}
	if info.State.Msgs > 0 {
		return fmt.Errorf("%w (%d)", errStreamHolds, info.State.Msgs)
	}
	if err := d.js.DeleteStream(ctx, d.stream.Name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete it to create it again: %w", err)
	}
	// Its own configuration: the stream may be one WithStream named,
	// configured by its operator.
	if _, err := d.create(ctx, info.Config); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create it again: %w", err)
	}
	return nil
}

// retrySend publishes again, at once, the messages of msgs that failed
// because the stream was lost or could not open its files, each time the
// queue was set up again since they were sent (up to republishes times).
// Left to the kernel, whose retries last a few hundred milliseconds by
// default, the messages could be dead-lettered while the stream is being
// deleted and created again. A publish sent again carries the same message
// id; the server refused the ones a lost stream failed, and stores a late
// one once only with WithDeduplication (else it is a duplicate delivery,
// which at least once allows). errs are the errors
// of the first publish of msgs, in setup generation gen; retrySend returns
// those of the last.
func (d *driver) retrySend(ctx context.Context, msgs []natsgo.Msg, errs []error, gen uint64) []error {
	for try := 0; errs != nil; try++ {
		var failed []int
		var first error
		for i, err := range errs {
			if err != nil {
				failed = append(failed, i)
				if first == nil {
					first = err
				}
			}
		}
		if try == republishes || ctx.Err() != nil || !d.recoverFrom(ctx, first, gen) {
			return errs
		}
		gen = d.gen.Load()
		again := make([]natsgo.Msg, len(failed))
		for j, i := range failed {
			again[j] = msgs[i]
		}
		errsAgain := d.pub.publish(again)(ctx.Done(), ctx.Err)
		if errsAgain == nil {
			return nil
		}
		for j, i := range failed {
			errs[i] = errsAgain[j]
		}
	}
	return nil
}

// report hands err to the kernel's error channel once the kernel runs.
func (d *driver) report(err error) {
	if k := d.k.Load(); k != nil {
		k.Report(&kernel.Error{Op: "connection", Err: err})
	}
}
