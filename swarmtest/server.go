package swarmtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvRequire names the environment variable that turns skips for a missing
// server or emulator into failures. CI sets it, so CI never passes without
// the servers.
const EnvRequire = "SWARM_REQUIRE_SERVERS"

// Unavailable skips the test because what it needs is absent, saying so, or
// fails it when SWARM_REQUIRE_SERVERS=1.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("required by %s=1 but unavailable: %s", EnvRequire, msg)
	}
	t.Skipf("skipped, unavailable here: %s (set %s=1 to make this a failure)", msg, EnvRequire)
}

// RequireTCP checks that addr accepts TCP connections, or calls Unavailable
// naming the server.
func RequireTCP(t testing.TB, server, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		Unavailable(t, "%s at %s: %v", server, addr, err)
		return
	}
	c.Close()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Process is a server process a test runs privately, on its own port, so it
// can be restarted without disturbing the shared services other tests use.
type Process struct {
	t    testing.TB
	Addr string // 127.0.0.1:port the server listens on
	argv []string
	env  []string
	cmd  *exec.Cmd
	log  output
}

// output collects a process's output for error messages.
type output struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// StartProcess runs argv and waits until addr accepts connections. When the
// binary is absent it calls Unavailable. The process is killed at the end of
// the test.
func StartProcess(t testing.TB, addr string, env []string, argv ...string) *Process {
	t.Helper()
	if _, err := exec.LookPath(argv[0]); err != nil {
		Unavailable(t, "server binary %s: %v", argv[0], err)
	}
	p := &Process{t: t, Addr: addr, argv: argv, env: env}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start starts the process and waits up to 60s for its port.
func (p *Process) Start() {
	p.t.Helper()
	p.cmd = exec.Command(p.argv[0], p.argv[1:]...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.argv[0], err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s did not listen on %s within 60s; its output:\n%s", p.argv[0], p.Addr, p.log.String())
}

// Stop asks the process to terminate (SIGTERM, so it can save its data),
// kills it after 30s, and waits for it to exit.
func (p *Process) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
}

// Output is what the process printed so far.
func (p *Process) Output() string { return p.log.String() }

// Restart stops and starts the process.
func (p *Process) Restart() {
	p.t.Helper()
	p.Stop()
	p.Start()
}
