// Package postgres runs swarm channels over a PostgreSQL table used as a
// queue.
//
// Messages are rows of one table (default "swarm_queue", created on first
// use) keyed by queue name, so many queues share a table. Emit writes a
// batch with one COPY and wakes receivers with NOTIFY once it is committed;
// receivers take rows with SELECT ... FOR UPDATE SKIP LOCKED (competing
// consumers) in a transaction that stays open while they handle them, wait
// on LISTEN when the queue is empty, and settle by deleting the rows inside
// it (ack) or by writing a lease into them (nack, a batch held too long).
// A consumer that dies returns its rows at once, and their next delivery
// counts the failed one. Dead letters move,
// in one statement, to the queue "<queue>.dlq" in the same table, where a
// broker opened on that name reads them.
//
// The Outbox emits inside the application's own transaction: the message
// becomes visible only if that transaction commits.
//
// Importing the package registers the URL schemes postgres and postgresql:
//
//	swarm.Open("postgres://user:pass@host:5432/app/orders?sslmode=verify-full")
//
// opens the queue "orders" in database "app".
package postgres

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// Broker is a connection to one queue in a PostgreSQL table. It is safe for
// concurrent use.
type Broker struct {
	k *kernel.Kernel
	d *driver
}

// New opens the queue named queue, creating the table and its index when
// absent (see WithCreateTable). It connects once to check the table, within
// WithTimeout. It fails with swarm.ErrConfig when an option is invalid, or
// with the connection or DDL error, never containing the password.
func New(queue string, opts ...Option) (*Broker, error) {
	c := defaults()
	for _, opt := range opts {
		opt(&c)
	}
	if err := c.validate(queue); err != nil {
		return nil, err
	}
	kcfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	t, err := parseTable(c.table)
	if err != nil {
		return nil, err
	}
	pool, own, err := c.openPool()
	if err != nil {
		return nil, err
	}
	cc := pool.Config().ConnConfig
	where := location(&cc.Config)
	d := newDriver(&c, kcfg, t, queue, pool, own)
	if c.createTable {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		err = ensureTable(ctx, pool, t)
		cancel()
		if err != nil {
			if own {
				pool.Close()
			}
			return nil, redact(fmt.Errorf("postgres %s: prepare table %s: %w", where, t.name, err), c.password, cc.Password)
		}
	}
	k := kernel.New(kcfg, "postgres://"+where+"/"+queue, d)
	d.report = k.Report
	return &Broker{k: k, d: d}, nil
}

// Close flushes, releases unsettled deliveries at once, closes the LISTEN
// connection and the pool the broker opened (not one given by WithPool).
func (b *Broker) Close() error { return b.k.Close() }

// Kernel returns the kernel running the broker's channels.
func (b *Broker) Kernel() *kernel.Kernel { return b.k }

// Pool returns the connection pool the broker uses, to begin the
// transactions an Outbox emits in. When the broker opened it, Close closes
// it and waits for connections still acquired (open transactions) to be
// released: end them first.
func (b *Broker) Pool() *pgxpool.Pool { return b.d.pool }

// Queue is the name of the broker's queue.
func (b *Broker) Queue() string { return b.d.queue }

func (c *config) validate(queue string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: postgres: "+format, append([]any{swarm.ErrConfig}, args...)...)
	}
	switch {
	case queue == "":
		return bad("queue name is empty")
	case c.deadLetter == queue:
		return bad("dead-letter queue %q is the queue itself", queue)
	case c.maxPayload < 1 || c.maxPayload > 512<<20:
		return bad("WithMaxPayload(%d): want 1 to 512 MiB", c.maxPayload)
	case c.timeout <= 0:
		return bad("WithTimeout(%v): want a positive duration", c.timeout)
	case c.connectTimeout <= 0:
		return bad("WithConnectTimeout(%v): want a positive duration", c.connectTimeout)
	case c.maxConns < 2:
		return bad("WithMaxConns(%d): want 2 or more (a consumer holds a connection while it handles a batch; sends need another)", c.maxConns)
	case c.pool != nil && c.pool.Config().MaxConns < 2:
		return bad("WithPool: the pool has MaxConns %d, want 2 or more (a consumer holds a connection while it handles a batch; sends need another)", c.pool.Config().MaxConns)
	case len(c.channel) > maxIdent:
		return bad("WithChannel(%q): longer than %d bytes", c.channel, maxIdent)
	case c.pool != nil && (c.dsn != "" || c.tls != nil || c.credentials):
		return bad("WithPool cannot be combined with WithDSN, WithTLS or WithCredentials: configure the pool instead")
	}
	if c.deadLetter == "" {
		c.deadLetter = queue + ".dlq"
	}
	return nil
}

// openPool returns the broker's pool and whether the broker owns it. The
// pool connects lazily.
func (c *config) openPool() (*pgxpool.Pool, bool, error) {
	if c.pool != nil {
		return c.pool, false, nil
	}
	dsn := c.dsn
	if dsn == "" {
		dsn = DefaultDSN
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx masks the password of the DSN it quotes; redact is a second net.
		return nil, false, redact(fmt.Errorf("%w: postgres: WithDSN: %w", swarm.ErrConfig, err), c.password, passwordOf(dsn))
	}
	pc.MaxConns = int32(c.maxConns)
	cc := &pc.ConnConfig.Config
	cc.ConnectTimeout = c.connectTimeout
	if c.credentials {
		cc.User, cc.Password = c.user, c.password
	}
	if c.tls != nil {
		forceTLS(cc, c)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, false, redact(fmt.Errorf("postgres %s: %w", location(cc), err), c.password, cc.Password)
	}
	return pool, true, nil
}

// forceTLS puts c.tls on the primary host and every fallback, dropping the
// plain-text fallbacks sslmode=prefer/allow add.
func forceTLS(cc *pgconn.Config, c *config) {
	withName := func(host string) *tls.Config {
		t := c.tls.Clone()
		if t.ServerName == "" && !strings.HasPrefix(host, "/") {
			t.ServerName = host
		}
		return t
	}
	cc.TLSConfig = withName(cc.Host)
	seen := map[string]bool{cc.Host + ":" + strconv.Itoa(int(cc.Port)): true}
	var fbs []*pgconn.FallbackConfig
	for _, fb := range cc.Fallbacks {
		key := fb.Host + ":" + strconv.Itoa(int(fb.Port))
		if seen[key] {
			continue
		}
		seen[key] = true
		fb.TLSConfig = withName(fb.Host)
		fbs = append(fbs, fb)
	}
	cc.Fallbacks = fbs
}

// location names the server and database for errors: host:port/database,
// never the user or password.
func location(cc *pgconn.Config) string {
	host := cc.Host
	if !strings.HasPrefix(host, "/") {
		host += ":" + strconv.Itoa(int(cc.Port))
	}
	return host + "/" + cc.Database
}

// passwordOf extracts the password of a URL-form DSN, to redact it.
func passwordOf(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		p, _ := u.User.Password()
		return p
	}
	return ""
}

// redact returns err with every password in secrets masked in its message,
// keeping the chain for errors.Is. Passwords shorter than 4 bytes are left,
// since masking them would garble the message; pgx masks DSNs itself.
func redact(err error, secrets ...string) error {
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if len(s) >= 4 && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redacted{msg: msg, err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

func init() {
	swarm.Register("postgres", openURL)
	swarm.Register("postgresql", openURL)
}

// openURL opens postgres://user:pass@host:port/database/queue?params. The
// parameters table, channel, dlq and queue (instead of the path's last
// segment) are the broker's; the others (sslmode, ...) go to pgx.
func openURL(u *url.URL, opts ...swarm.Option) (swarm.Broker, error) {
	dsn, queue, bopts, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	return New(queue, append(bopts, WithDSN(dsn), WithKernel(opts...))...)
}

func parseURL(u *url.URL) (dsn, queue string, opts []Option, err error) {
	q := u.Query()
	take := func(key string) string {
		v := q.Get(key)
		q.Del(key)
		return v
	}
	if v := take("table"); v != "" {
		opts = append(opts, WithTable(v))
	}
	if v := take("channel"); v != "" {
		opts = append(opts, WithChannel(v))
	}
	if v := take("dlq"); v != "" {
		opts = append(opts, WithDeadLetterQueue(v))
	}
	db := strings.TrimPrefix(u.Path, "/")
	queue = take("queue")
	if queue == "" {
		var ok bool
		db, queue, ok = strings.Cut(db, "/")
		if !ok || db == "" || queue == "" {
			return "", "", nil, fmt.Errorf("%w: postgres: URL path %q: want /database/queue (or ?queue=name)",
				swarm.ErrConfig, u.Path)
		}
	}
	v := *u
	v.Path, v.RawPath, v.RawQuery, v.Fragment = "/"+db, "", q.Encode(), ""
	return v.String(), queue, opts, nil
}

// sleep waits d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
