package postgres_test

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/postgres"
	"github.com/swarm-go/swarm/swarmtest"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// privateServer is a PostgreSQL cluster of the test's own, so that it can be
// restarted without disturbing the shared server.
type privateServer struct {
	t       testing.TB
	data    string
	asUser  []string // runuser prefix when the test runs as root
	dsn     string
	port    int
	process *swarmtest.Process
}

// ready waits until the server accepts connections: it listens on its port
// a moment before it does ("the database system is starting up").
func (s *privateServer) ready(t testing.TB) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		// pg_isready exits 0 once connections are accepted, 1 while they
		// are refused (starting up), 2 with no answer.
		out, err := exec.Command(filepath.Join(pgBin, "pg_isready"), "-h", "127.0.0.1", "-p", strconv.Itoa(s.port)).CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("private PostgreSQL not ready after 60s: %v\n%s\n%s", err, out, s.process.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startPrivate runs initdb into a temporary directory and starts postgres on
// a free port. PostgreSQL refuses to run as root, so as root both run as the
// postgres user through runuser, in directories it owns.
func startPrivate(t *testing.T) *privateServer {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		swarmtest.Unavailable(t, "PostgreSQL binaries in %s: %v", pgBin, err)
	}
	dir := t.TempDir()
	s := &privateServer{t: t, data: filepath.Join(dir, "data")}
	sock := filepath.Join(dir, "sock")
	for _, d := range []string{s.data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			swarmtest.Unavailable(t, "running as root and no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// t.TempDir and its parent are 0700 root: let the postgres user through.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []string{s.data, sock} {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		s.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := s.command("initdb", "-D", s.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := swarmtest.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s.dsn = fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr)
	argv := append(append([]string{}, s.asUser...), filepath.Join(pgBin, "postgres"),
		"-D", s.data, "-k", sock, "-h", "127.0.0.1", "-p", strconv.Itoa(port))
	s.port = port
	s.process = swarmtest.StartProcess(t, addr, nil, argv...)
	s.ready(t)
	// Registered after StartProcess, so it runs first: a fast shutdown, since
	// Process.Stop's SIGTERM is PostgreSQL's smart shutdown, which waits for
	// every client to leave.
	t.Cleanup(s.stop)
	return s
}

func (s *privateServer) command(tool string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, s.asUser...), filepath.Join(pgBin, tool)), args...)
	return exec.Command(argv[0], argv[1:]...)
}

// stop shuts the server down fast: clients are disconnected, the data is
// checkpointed.
func (s *privateServer) stop() {
	if out, err := s.command("pg_ctl", "-D", s.data, "stop", "-m", "fast", "-w", "-t", "30").CombinedOutput(); err != nil {
		s.t.Logf("pg_ctl stop: %v\n%s", err, out)
	}
}

// restart stops the server fast, then starts it again on the same port and
// data directory.
func (s *privateServer) restart(t testing.TB) {
	start := time.Now()
	s.stop()
	s.process.Restart()
	s.ready(t)
	t.Logf("private PostgreSQL restarted (fast shutdown) in %v", time.Since(start).Round(time.Millisecond))
}

func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: runs a private PostgreSQL")
	}
	s := startPrivate(t)
	swarmtest.RunRestart(t, swarmtest.Config{
		Open: func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
			// A short lease brings back soon what a restart caught between
			// its lease and the reply (the suite's options come after).
			return postgres.New(queue, postgres.WithDSN(s.dsn),
				postgres.WithKernel(swarm.WithTimeToFlight(5*time.Second)), postgres.WithKernel(opts...))
		},
		Restart: s.restart,
	})
}
