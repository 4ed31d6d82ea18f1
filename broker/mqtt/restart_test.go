package mqtt_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/broker/mqtt"
	"github.com/swarm-go/swarm/swarmtest"
)

// privateServer is a Mosquitto of the test's own, on a free port, that
// the test may restart.
type privateServer struct {
	*swarmtest.Process
	data string // its persistence and log directory
}

// startPrivateServer starts a Mosquitto with no queue limit, saving its
// database on SIGTERM when persist is set.
func startPrivateServer(t *testing.T, persist bool) *privateServer {
	t.Helper()
	data := serverDataDir(t)
	port := swarmtest.FreePort(t)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	body := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence %t
persistence_location %s/
max_queued_messages 0
max_inflight_messages 0
log_dest stderr
log_dest file %s
log_type error
log_type warning
`, port, persist, data, filepath.Join(data, "mosquitto.log"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := swarmtest.StartProcess(t, fmt.Sprintf("127.0.0.1:%d", port), nil, "mosquitto", "-c", conf)
	return &privateServer{Process: p, data: data}
}

// serverDataDir makes the directory a private Mosquitto writes its database
// and log to. Started as root, Mosquitto drops its privileges to the user
// "mosquitto" (its option user), which cannot write to a t.TempDir (mode
// 0700, owned by the test's user): it then fails to save its database on
// SIGTERM and restarts empty. So the directory is open to every user, in a
// parent every user can enter.
func serverDataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "swarm-mosquitto-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sessionLosses collects the ErrSessionLost reports of the brokers given
// its option.
type sessionLosses struct {
	ch chan error // never closed: a kernel might still report
	mu sync.Mutex
	n  int
}

func newSessionLosses(t *testing.T) *sessionLosses {
	l := &sessionLosses{ch: make(chan error, 64)}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case err := <-l.ch:
				if errors.Is(err, mqtt.ErrSessionLost) {
					l.mu.Lock()
					l.n++
					l.mu.Unlock()
				}
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return l
}

func (l *sessionLosses) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// TestRestart restarts a private Mosquitto (persistence on, no queue limit)
// while 10,000 QoS 1 messages flow; every one must arrive. The restart
// must keep the session: a server that restarts empty forgets what it held
// for the session, and the check would pass or fail by luck.
func TestRestart(t *testing.T) {
	srv := startPrivateServer(t, true)
	losses := newSessionLosses(t)
	cfg := config(srv.Addr)
	cfg.Open = func(_ testing.TB, queue string, opts ...swarm.Option) (swarm.Broker, error) {
		return mqtt.New(queue, testOpts(srv.Addr, append(opts, swarm.WithStdErr(losses.ch))...)...)
	}
	cfg.Restart = func(tb testing.TB) {
		srv.Restart()
		if _, err := os.Stat(filepath.Join(srv.data, "mosquitto.db")); err != nil {
			log, _ := os.ReadFile(filepath.Join(srv.data, "mosquitto.log"))
			// Errorf, not Fatalf: RunRestart restarts from another goroutine.
			tb.Errorf("mosquitto saved no database when stopped (%v); its log:\n%s", err, log)
		}
	}
	swarmtest.RunRestart(t, cfg)
	if n := losses.count(); n > 0 {
		t.Errorf("the server lost the session across the restart (%d reports)", n)
	}
}

// TestSessionLostReported: a server that restarts without the session
// (no persistence) is reported on the listener's error channel, since what
// it held for the session is gone.
func TestSessionLostReported(t *testing.T) {
	srv := startPrivateServer(t, false)
	losses := newSessionLosses(t)
	q, err := mqtt.New("session-lost", testOpts(srv.Addr, swarm.WithStdErr(losses.ch))...)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	srv.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for losses.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no ErrSessionLost within 30s of a restart of a server without persistence")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
