package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/swarm-go/swarm"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, dsn, queue string
		opts            int
		bad             bool
	}{
		{url: "postgres://127.0.0.1/test/orders", dsn: "postgres://127.0.0.1/test", queue: "orders"},
		{url: "postgresql://u:p@h:5433/app/a/b?sslmode=require&table=jobs&channel=c&dlq=dead",
			dsn: "postgresql://u:p@h:5433/app?sslmode=require", queue: "a/b", opts: 3},
		{url: "postgres://h/app?queue=orders", dsn: "postgres://h/app", queue: "orders"},
		{url: "postgres://h/orders", bad: true},
		{url: "postgres://h/", bad: true},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		dsn, queue, opts, err := parseURL(u)
		if tc.bad {
			if !errors.Is(err, swarm.ErrConfig) {
				t.Errorf("%s: err = %v, want ErrConfig", tc.url, err)
			}
			continue
		}
		if err != nil || dsn != tc.dsn || queue != tc.queue || len(opts) != tc.opts {
			t.Errorf("%s: got %q %q %d opts %v, want %q %q %d", tc.url, dsn, queue, len(opts), err, tc.dsn, tc.queue, tc.opts)
		}
	}
}

func TestParseTable(t *testing.T) {
	tb, err := parseTable(`app.jobs"x`)
	if err != nil {
		t.Fatal(err)
	}
	if tb.ident != `"app"."jobs""x"` || tb.index != `"app"."jobs""x_queue_id_idx"` || tb.local != `"jobs""x_queue_id_idx"` {
		t.Errorf("quoted %s %s %s", tb.ident, tb.index, tb.local)
	}
	for _, bad := range []string{"", "a.b.c", ".x", strings.Repeat("t", 64)} {
		if _, err := parseTable(bad); !errors.Is(err, swarm.ErrConfig) {
			t.Errorf("parseTable(%q) = %v, want ErrConfig", bad, err)
		}
	}
	long, _ := parseTable(strings.Repeat("t", 60))
	if n := len(strings.Trim(long.local, `"`)); n > maxIdent {
		t.Errorf("index name of %d bytes", n)
	}
}

func TestChannelName(t *testing.T) {
	tb, _ := parseTable("swarm_queue")
	if got := channelName(tb, "orders"); got != "swarm:swarm_queue:orders" {
		t.Errorf("channel %q", got)
	}
	a, b := channelName(tb, strings.Repeat("q", 80)+"1"), channelName(tb, strings.Repeat("q", 80)+"2")
	if len(a) > maxIdent || a == b {
		t.Errorf("long names: %q %q", a, b)
	}
}

func TestForceTLS(t *testing.T) {
	cc, err := pgconn.ParseConfig("postgres://u@db1:5432,db2:5433/app?sslmode=prefer")
	if err != nil {
		t.Fatal(err)
	}
	c := &config{tls: &tls.Config{MinVersion: tls.VersionTLS12}}
	forceTLS(cc, c)
	if cc.TLSConfig == nil || cc.TLSConfig.ServerName != "db1" {
		t.Fatalf("primary TLS %+v", cc.TLSConfig)
	}
	if len(cc.Fallbacks) != 1 || cc.Fallbacks[0].Host != "db2" || cc.Fallbacks[0].TLSConfig == nil ||
		cc.Fallbacks[0].TLSConfig.ServerName != "db2" {
		t.Errorf("fallbacks must be the other host, with TLS: %+v", cc.Fallbacks)
	}
	if c.tls.ServerName != "" {
		t.Error("forceTLS modified the caller's tls.Config")
	}
}

func TestRedact(t *testing.T) {
	err := redact(errors.New("cannot reach u:hunter22@h"), "hunter22", "ab")
	if strings.Contains(err.Error(), "hunter22") {
		t.Errorf("not redacted: %v", err)
	}
	if inner := errors.Unwrap(err); inner == nil {
		t.Error("redact lost the error chain")
	}
}

// localServer returns the DSN of the PostgreSQL server on this host, or
// skips the test, saying so, when none answers.
func localServer(t *testing.T) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:5432", time.Second)
	if err != nil {
		t.Skipf("skipped, unavailable here: PostgreSQL: %v", err)
	}
	c.Close()
	return DefaultDSN
}

// openFresh opens a broker of the shared server on a queue of its own
// (prefix and a unique suffix), closed when the test ends.
func openFresh(t *testing.T, prefix string, opts ...Option) (*driver, string) {
	t.Helper()
	dsn := localServer(t)
	queue := prefix + strconv.FormatInt(time.Now().UnixNano(), 36)
	b, err := New(queue, append([]Option{WithDSN(dsn)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b.d, queue
}

// rowsLeft returns the message ids of queue's rows in d's table, in the
// queue's order.
func rowsLeft(t *testing.T, d *driver, queue string) []string {
	t.Helper()
	r, err := d.pool.Query(context.Background(), `SELECT msg_id FROM `+d.table.Sanitize()+` WHERE queue = $1 ORDER BY id`, queue)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
