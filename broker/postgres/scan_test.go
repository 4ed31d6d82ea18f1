package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/swarm-go/swarm/kernel"
)

// TestScanFindsLateCommits: a row another transaction wrote (as another
// producer or an outbox would) with an id below rows already taken,
// committed after they were, is found as soon as its notification arrives,
// not at the next take from the queue's start a poll later.
func TestScanFindsLateCommits(t *testing.T) {
	d, _ := openFresh(t, "st-scan-")
	ctx := t.Context()
	d.pollWait = 5 * time.Second // the longest there is
	ack := func(envs []kernel.Envelope) {
		hs := make([]any, len(envs))
		for i := range envs {
			hs[i] = envs[i].Handle
		}
		if err := d.Ack(ctx, hs); err != nil {
			t.Fatal(err)
		}
	}
	send := func(id string) {
		if errs := d.Send(ctx, []kernel.Envelope{{Category: "c", ID: id, Payload: []byte(`"x"`)}}); errs != nil {
			t.Fatal(errs[0])
		}
	}
	// Subscribe, and let the LISTEN connection come up: its connect wakes
	// the receive waiting on the empty queue (and makes the next take start
	// from the queue's start, as what was sent before it might be missed).
	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	if _, err := d.Receive(wait, 10); err != nil {
		t.Fatal(err)
	}
	cancel()
	send("first")
	ack(received(t, d, 10)) // from the start: sets the mark

	conn, err := pgx.Connect(ctx, localServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	// Drawn an id, not committed; notified at commit.
	if _, err := tx.Exec(ctx, `INSERT INTO `+d.table.Sanitize()+` (queue, category, msg_id, payload) VALUES ($1, 'c', 'late', '"late"')`, d.queue); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, notify, d.channel, d.queue); err != nil {
		t.Fatal(err)
	}
	send("second")
	envs := received(t, d, 10)
	if len(envs) != 1 || envs[0].ID != "second" {
		t.Fatalf("took %v, want the second send alone", envs)
	}
	ack(envs)
	d.scan.mu.Lock()
	vacuous := d.scan.behind || d.scan.last == 0
	d.scan.mu.Unlock()
	if vacuous {
		t.Fatal("the next take starts from the queue's start anyway: this test proves nothing")
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		envs, err := d.Receive(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(envs) > 0 {
			if len(envs) != 1 || envs[0].ID != "late" {
				t.Fatalf("took %v, want the row committed late", envs)
			}
			ack(envs)
			return
		}
	}
	t.Fatalf("the row committed late was not found in %v (takes start past it until the next poll)", time.Since(start))
}

// TestScanFindsDelayedNack: a row nacked with a delay is taken again when
// the delay is over, though takes start past it, not a poll later.
func TestScanFindsDelayedNack(t *testing.T) {
	d, _ := openFresh(t, "st-scan-")
	ctx := t.Context()
	d.pollWait = 5 * time.Second
	if errs := d.Send(ctx, []kernel.Envelope{{Category: "c", ID: "m", Payload: []byte(`"x"`)}}); errs != nil {
		t.Fatal(errs[0])
	}
	envs := received(t, d, 10)
	const delay = 300 * time.Millisecond
	nacked := time.Now()
	if err := d.Nack(ctx, []any{envs[0].Handle}, delay); err != nil {
		t.Fatal(err)
	}
	for time.Since(nacked) < 2*time.Second {
		envs, err := d.Receive(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(envs) > 0 {
			if envs[0].ID != "m" || envs[0].Attempt != 2 {
				t.Fatalf("took %q attempt %d, want m's second", envs[0].ID, envs[0].Attempt)
			}
			if took := time.Since(nacked); took < delay {
				t.Fatalf("taken again after %v, before its delay of %v", took, delay)
			}
			if err := d.Ack(ctx, []any{envs[0].Handle}); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("the nacked row was not taken again in %v (takes start past it until the next poll)", time.Since(nacked))
}

// TestScannerStartsOver: what makes the next take start from the queue's
// start, and what does not.
func TestScannerStartsOver(t *testing.T) {
	now := time.Now()
	fresh := func() *scanner {
		s := &scanner{token: "me"}
		if s.from(now, time.Second) != 0 {
			t.Fatal("the first take does not start from the queue's start")
		}
		s.took(0, 100)
		return s
	}
	for _, c := range []struct {
		name  string
		do    func(s *scanner)
		whole bool
	}{
		{"nothing", func(*scanner) {}, false},
		{"own announcement", func(s *scanner) { s.notified("me") }, false},
		{"own send alone", func(s *scanner) { s.sendEnd(s.sendBegin()) }, false},
		{"a later take", func(s *scanner) { s.took(100, 150) }, false},
		{"another's announcement", func(s *scanner) { s.notified("you") }, true},
		{"a notification without a sender", func(s *scanner) { s.notified("") }, true},
		{"own sends overlapping, the first ends first", func(s *scanner) {
			a, b := s.sendBegin(), s.sendBegin()
			s.sendEnd(a)
			s.from(now, time.Second) // the take between the two ends...
			s.sendEnd(b)
		}, true},
		{"own sends overlapping, the second ends first", func(s *scanner) {
			a, b := s.sendBegin(), s.sendBegin()
			s.sendEnd(b)
			s.from(now, time.Second)
			s.sendEnd(a)
		}, true},
		{"another's announcement during an own send", func(s *scanner) {
			m := s.sendBegin()
			s.notified("you")
			s.from(now, time.Second) // ...does not make the next one start past the send's rows
			s.sendEnd(m)
		}, true},
		{"a nack", func(s *scanner) { s.fallBehind() }, true},
		{"a poll later", func(s *scanner) { s.whole = s.whole.Add(-time.Second) }, true},
	} {
		s := fresh()
		c.do(s)
		if got := s.from(now, time.Second) == 0; got != c.whole {
			t.Errorf("%s: next take from the start %v, want %v", c.name, got, c.whole)
		}
	}
	tok := newToken()
	for _, c := range []struct{ payload, queue, sender string }{
		{announcement("q", tok), "q", tok},
		{announcement("q\x1fx", tok), "q\x1fx", tok},
		{"q", "q", ""},
		{"q\x1fx", "q\x1fx", ""}, // a queue's own separator, not followed by a token
		{"", "", ""},
	} {
		if q, sender := parsePayload(c.payload); q != c.queue || sender != c.sender {
			t.Errorf("parsePayload(%q) = %q, %q; want %q, %q", c.payload, q, sender, c.queue, c.sender)
		}
	}
}
