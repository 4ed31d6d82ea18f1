package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swarm-go/swarm/broker/amqp"
	"github.com/swarm-go/swarm/emit"
	"github.com/swarm-go/swarm/listen"
	"github.com/swarm-go/swarm/swarmtest"
)

// rabbitmqServer finds the server start script that runs in the foreground
// as the current user. Debian's /usr/sbin/rabbitmq-server switches to the
// rabbitmq user, who cannot write the test's temporary directory.
func rabbitmqServer(t *testing.T) string {
	const debian = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	if _, err := os.Stat(debian); err == nil {
		return debian
	}
	p, err := exec.LookPath("rabbitmq-server")
	if err != nil {
		swarmtest.Unavailable(t, "rabbitmq-server binary: %v", err)
	}
	return p
}

// startPrivateRabbitMQ runs a RabbitMQ node of its own (name, ports, data,
// logs, cookie, no plugins) on a free port, never the shared service.
// extraConf is appended to its rabbitmq.conf.
func startPrivateRabbitMQ(t *testing.T, extraConf string) *swarmtest.Process {
	p, _ := startPrivateNode(t, extraConf)
	return p
}

// startPrivateNode is startPrivateRabbitMQ that also returns a function
// running rabbitmqctl against the node (same cookie, through HOME).
func startPrivateNode(t *testing.T, extraConf string) (*swarmtest.Process, func(args ...string)) {
	bin := rabbitmqServer(t)
	port, dist := swarmtest.FreePort(t), swarmtest.FreePort(t)
	dir := t.TempDir()
	for _, sub := range []string{"home", "mnesia", "log"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := []string{
		// A home of its own: Erlang creates the node's cookie there.
		"HOME=" + filepath.Join(dir, "home"),
		// Not /etc/rabbitmq/rabbitmq-env.conf, which names the shared node.
		"RABBITMQ_CONF_ENV_FILE=" + write("rabbitmq-env.conf", ""),
		"RABBITMQ_CONFIG_FILE=" + write("rabbitmq.conf", fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\n%s", port, extraConf)),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + write("enabled_plugins", "[].\n"),
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", port),
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		fmt.Sprintf("RABBITMQ_NODENAME=swarmtest%d@localhost", port),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", dist),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(dir, "log"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_PID_FILE=" + filepath.Join(dir, "node.pid"),
	}
	// Runs after the Process's own stop: should the shell script have been
	// killed before it could stop the Erlang VM, end the VM by its pid.
	t.Cleanup(func() { killNode(t, filepath.Join(dir, "node.pid"), fmt.Sprintf("swarmtest%d@localhost", port)) })
	start := time.Now()
	p := swarmtest.StartProcess(t, fmt.Sprintf("127.0.0.1:%d", port), env, bin)
	t.Logf("private RabbitMQ on %s booted in %v", p.Addr, time.Since(start).Round(time.Millisecond))
	ctl := func(args ...string) {
		t.Helper()
		argv := append([]string{"-n", fmt.Sprintf("swarmtest%d@localhost", port)}, args...)
		cmd := exec.Command(filepath.Join(filepath.Dir(bin), "rabbitmqctl"), argv...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
		}
	}
	return p, ctl
}

// killNode kills the node whose pid the server wrote to pidFile, if it is
// still running and is that node (its command line names it).
func killNode(t *testing.T, pidFile, node string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), node) {
		return
	}
	t.Logf("private RabbitMQ %s (pid %d) outlived its stop: killing it", node, pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// TestRestart stops and starts a private RabbitMQ (SIGTERM: a graceful
// stop) while 10,000 persistent messages flow; every one must arrive.
func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: boots a private RabbitMQ twice")
	}
	p := startPrivateRabbitMQ(t, "")
	url := "amqp://guest:guest@" + p.Addr + "/"
	swarmtest.RunRestart(t, swarmtest.Config{
		Open: opener(url),
		Restart: func(testing.TB) {
			start := time.Now()
			p.Restart()
			t.Logf("private RabbitMQ restarted in %v", time.Since(start).Round(time.Millisecond))
		},
	})
}

// TestResourceAlarm: while the server blocks publishers (here a disk alarm
// from boot), a send honours its context and Close returns promptly.
func TestResourceAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: boots a private RabbitMQ")
	}
	p := startPrivateRabbitMQ(t, "disk_free_limit.absolute = 100000GB\n")
	b, err := amqp.New("alarmed", amqp.WithURL("amqp://guest:guest@"+p.Addr+"/"))
	if err != nil {
		t.Fatal(err)
	}
	w := emit.NewTyped[swarmtest.Note](b)
	for i := range 2 { // the first meets the alarm, the second the blocked connection
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		err := w.Enq(ctx, swarmtest.Note{Seq: i})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
			t.Errorf("Enq %d under an alarm = %v after %v, want DeadlineExceeded after 1s", i, err, time.Since(start))
		}
	}
	start := time.Now()
	_ = b.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close under an alarm took %v", d)
	}
}

// TestReleaseUnderAlarm: deliveries released by Close while a memory alarm
// blocks publishers (set after the consumer's last publish, so its
// connection does not know yet) are requeued after a bounded wait, not
// held, and none is lost.
func TestReleaseUnderAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: boots a private RabbitMQ")
	}
	p, ctl := startPrivateNode(t, "")
	url := "amqp://guest:guest@" + p.Addr + "/"
	producer, err := amqp.New("alarm", amqp.WithURL(url))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	w := emit.NewTyped[swarmtest.Note](producer)
	const n = 5
	for i := range n {
		if err := w.Enq(context.Background(), swarmtest.Note{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	consumer, err := amqp.New("alarm", amqp.WithURL(url))
	if err != nil {
		t.Fatal(err)
	}
	deq, _ := listen.Typed[swarmtest.Note](consumer)
	for range n {
		select {
		case <-deq: // held, never acked: Close releases them
		case <-time.After(10 * time.Second):
			t.Fatal("not received")
		}
	}
	ctl("set_vm_memory_high_watermark", "0") // 0 blocks every publisher
	start := time.Now()
	if err := consumer.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Close under an alarm took %v", d)
	}
	ctl("set_vm_memory_high_watermark", "0.4")
	again, err := amqp.New("alarm", amqp.WithURL(url))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	deq2, ack2 := listen.Typed[swarmtest.Note](again)
	seen := map[int]bool{}
	for len(seen) < n {
		select {
		case m := <-deq2:
			seen[m.Object.Seq] = true
			ack2 <- m
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d released messages came back", len(seen), n)
		}
	}
}
