package postgres_test

import (
	"crypto/tls"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/postgres"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

func TestOptionValidation(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), sharedDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for name, tc := range map[string]struct {
		queue string
		opts  []postgres.Option
	}{
		"empty queue":      {"", nil},
		"dlq is queue":     {"q", []postgres.Option{postgres.WithDeadLetterQueue("q")}},
		"payload":          {"q", []postgres.Option{postgres.WithMaxPayload(0)}},
		"timeout":          {"q", []postgres.Option{postgres.WithTimeout(0)}},
		"connect timeout":  {"q", []postgres.Option{postgres.WithConnectTimeout(-time.Second)}},
		"max conns":        {"q", []postgres.Option{postgres.WithMaxConns(1)}},
		"channel":          {"q", []postgres.Option{postgres.WithChannel(strings.Repeat("c", 64))}},
		"table":            {"q", []postgres.Option{postgres.WithTable("a.b.c")}},
		"pool and dsn":     {"q", []postgres.Option{postgres.WithPool(pool), postgres.WithDSN(sharedDSN)}},
		"pool and secrets": {"q", []postgres.Option{postgres.WithPool(pool), postgres.WithCredentials("u", "p")}},
		"kernel":           {"q", []postgres.Option{postgres.WithKernel(swarm.WithEmitCapacity(-1))}},
		"dsn":              {"q", []postgres.Option{postgres.WithDSN("postgres://h:notaport/db")}},
	} {
		if _, err := postgres.New(tc.queue, tc.opts...); !errors.Is(err, swarm.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

// TestSecretsNotInErrors: a password given in the DSN or by WithCredentials
// appears in no error, whatever fails.
func TestSecretsNotInErrors(t *testing.T) {
	const secret = "s3cr3t-Passw0rd"
	for name, opts := range map[string][]postgres.Option{
		"bad dsn":         {postgres.WithDSN("postgres://u:" + secret + "@h:notaport/db")},
		"refused":         {postgres.WithDSN("postgres://u:" + secret + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2")},
		"credentials":     {postgres.WithDSN("postgres://127.0.0.1:1/db?sslmode=disable"), postgres.WithCredentials("u", secret)},
		"key-value dsn":   {postgres.WithDSN("host=127.0.0.1 port=1 password=" + secret + " sslmode=disable")},
		"unknown user":    {postgres.WithDSN(sharedDSN), postgres.WithCredentials("swarm_no_such_user", secret)},
		"bad key-value":   {postgres.WithDSN("host=127.0.0.1 port=x password=" + secret)},
		"broken url form": {postgres.WithDSN("postgres://u:" + secret + "@[::1/db")},
	} {
		_, err := postgres.New("q", append(opts, postgres.WithConnectTimeout(2*time.Second))...)
		if err == nil {
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
}

// TestTLSWiring: WithTLS reaches every connection the broker makes, without
// a plain-text fallback. WithCreateTable(false) keeps New from connecting.
func TestTLSWiring(t *testing.T) {
	b, err := postgres.New("q", postgres.WithDSN("postgres://u@db.example:5432/app?sslmode=prefer"),
		postgres.WithTLS(&tls.Config{MinVersion: tls.VersionTLS13}), postgres.WithCreateTable(false),
		postgres.WithCredentials("app", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cc := b.Pool().Config().ConnConfig
	if cc.TLSConfig == nil || cc.TLSConfig.ServerName != "db.example" || cc.TLSConfig.MinVersion != tls.VersionTLS13 {
		t.Errorf("TLS config %+v", cc.TLSConfig)
	}
	if len(cc.Fallbacks) != 0 {
		t.Errorf("plain-text fallbacks kept: %d", len(cc.Fallbacks))
	}
	if cc.User != "app" || cc.Password != "pw" {
		t.Errorf("credentials not applied: user %q", cc.User)
	}
	if q := b.Kernel().Queue(); q != "postgres://db.example:5432/app/q" || strings.Contains(q, "app@") {
		t.Errorf("kernel queue name %q", q)
	}
}

func TestSchema(t *testing.T) {
	ddl, err := postgres.Schema("app.jobs")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`CREATE TABLE IF NOT EXISTS "app"."jobs"`, `CONSTRAINT "jobs_queue_id_idx" PRIMARY KEY (queue, id)`, "visible_at"} {
		if !strings.Contains(ddl, want) {
			t.Errorf("DDL lacks %q:\n%s", want, ddl)
		}
	}
}

// TestOpenURL: importing the package registers postgres:// and
// postgresql://; the URL names database and queue.
func TestOpenURL(t *testing.T) {
	swarmtest.RequireTCP(t, "PostgreSQL", sharedAddr)
	for _, scheme := range []string{"postgres", "postgresql"} {
		queue := "url-" + scheme + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		q, err := swarm.Open(scheme + "://postgres@" + sharedAddr + "/test/" + queue + "?sslmode=disable")
		if err != nil {
			t.Fatalf("%s: %v", scheme, err)
		}
		if got := q.Kernel().Queue(); got != "postgres://"+sharedAddr+"/test/"+queue {
			t.Errorf("kernel queue %q", got)
		}
		w := emit.NewTyped[Invoice](q)
		deq, ack := listen.Typed[Invoice](q)
		if err := w.Enq(t.Context(), Invoice{No: 7}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-deq:
			ack <- m
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: nothing received", scheme)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := swarm.Open("postgres://u:hunter2secret@" + sharedAddr + "/test"); !errors.Is(err, swarm.ErrConfig) ||
		strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("URL without a queue: %v, want ErrConfig without the password", err)
	}
}

// TestAckCapacityDefault: the broker's in-flight bound is DefaultAckCapacity
// unless the application sets its own.
func TestAckCapacityDefault(t *testing.T) {
	for _, tc := range []struct {
		opts []postgres.Option
		want int
	}{
		{nil, postgres.DefaultAckCapacity},
		{[]postgres.Option{postgres.WithKernel(swarm.WithAckCapacity(100))}, 100},
	} {
		opts := append([]postgres.Option{postgres.WithDSN("postgres://u@db.example:5432/app"), postgres.WithCreateTable(false)}, tc.opts...)
		b, err := postgres.New("q", opts...)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Kernel().Config().AckCapacity; got != tc.want {
			t.Errorf("AckCapacity %d, want %d", got, tc.want)
		}
		b.Close()
	}
}
