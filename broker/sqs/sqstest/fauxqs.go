// Package sqstest runs the fauxqs SQS/SNS emulator for tests of the sqs and
// sns brokers, their examples and benchmarks.
//
// Each call to Start runs a private emulator on a free 127.0.0.1 port, killed
// when the test ends. The pinned npm package is installed once into a cache
// directory outside the repository ($SWARM_FAUXQS_DIR, or the user cache
// directory's swarm/fauxqs-<version>). Without node and npm, or when the
// install fails, the test is skipped through swarmtest.Unavailable (a failure
// under SWARM_REQUIRE_SERVERS=1).
package sqstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/swarm-go/swarm/swarmtest"
)

// Version is the fauxqs release the tests run: the last one that runs on
// node 20 (2.x needs node >= 22.5).
const Version = "1.9.2"

// Region is the region the emulator and the clients of the tests use.
const Region = "us-east-1"

// Lease is the lease (visibility timeout) the conformance runs ask for by
// default, shorter than a check's timeout (10 s): a long poll whose answer
// is lost on its way hides what it took for a whole lease, and at least
// once brings it back only then. With the default 30 s lease one such
// loss fails a check that the same loss on a real queue would not. Checks
// that need another lease set their own.
const Lease = 5 * time.Second

// bindLoopback is a node preload that makes every listen() without a host,
// or on a wildcard host, bind 127.0.0.1 instead: fauxqs listens on 0.0.0.0
// and must not be reachable from outside this machine.
const bindLoopback = `'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
const wild = (h) => h === undefined || h === null || h === '' || h === '0.0.0.0' || h === '::';
net.Server.prototype.listen = function (...args) {
  if (args.length > 0 && typeof args[0] === 'object' && args[0] !== null) {
    if (wild(args[0].host)) args[0] = Object.assign({}, args[0], { host: '127.0.0.1' });
  } else if (typeof args[0] === 'number' || typeof args[0] === 'string' && /^\d+$/.test(args[0])) {
    if (typeof args[1] !== 'string' || wild(args[1])) {
      const rest = typeof args[1] === 'string' || args[1] === undefined ? args.slice(2) : args.slice(1);
      args = [args[0], '127.0.0.1', ...rest];
    }
  }
  return listen.apply(this, args);
};
`

// launcher starts fauxqs without its request log (its CLI always logs, and
// the log of a benchmark run would fill the test's memory).
const launcher = `import { startFauxqs } from './node_modules/fauxqs/dist/app.js';
await startFauxqs({ logger: false });
`

// Emulator is a running fauxqs process.
type Emulator struct {
	// Endpoint is the emulator's base URL, http://127.0.0.1:port.
	Endpoint string
	// Proc is the process, for its output in failure messages.
	Proc *swarmtest.Process
}

// Credentials are the static credentials the tests sign with; the emulator
// accepts any.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("swarm", "swarm", "")
}

// Start installs fauxqs if needed and runs it on a free 127.0.0.1 port until
// the end of t.
func Start(t testing.TB) *Emulator {
	t.Helper()
	dir := Install(t)
	preload := filepath.Join(dir, "bind-loopback.cjs")
	if err := writeIfChanged(preload, bindLoopback); err != nil {
		t.Fatalf("fauxqs: write the loopback preload: %v", err)
	}
	run := filepath.Join(dir, "run-quiet.mjs")
	if err := writeIfChanged(run, launcher); err != nil {
		t.Fatalf("fauxqs: write the launcher: %v", err)
	}
	port := swarmtest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	env := []string{
		"FAUXQS_PORT=" + strconv.Itoa(port),
		"FAUXQS_DEFAULT_REGION=" + Region,
	}
	p := swarmtest.StartProcess(t, addr, env, "node", "--require", preload, run)
	return &Emulator{Endpoint: "http://" + addr, Proc: p}
}

// Install makes sure the pinned fauxqs is installed and returns its npm
// prefix directory. It skips t (swarmtest.Unavailable) when node or npm is
// missing or the install fails.
func Install(t testing.TB) string {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			swarmtest.Unavailable(t, "fauxqs needs %s: %v", bin, err)
		}
	}
	dir := os.Getenv("SWARM_FAUXQS_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "swarm", "fauxqs-"+Version)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "fauxqs", "package.json")); err == nil {
		return dir
	}
	// Install into a fresh directory and rename it into place, so test
	// binaries installing at the same time never see half an install.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		swarmtest.Unavailable(t, "fauxqs cache directory: %v", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".fauxqs-install-")
	if err != nil {
		swarmtest.Unavailable(t, "fauxqs cache directory: %v", err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", tmp, "--no-audit", "--no-fund",
		"--loglevel=error", "fauxqs@"+Version)
	if out, err := cmd.CombinedOutput(); err != nil {
		swarmtest.Unavailable(t, "npm install fauxqs@%s: %v\n%s", Version, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "node_modules", "fauxqs", "package.json")); statErr != nil {
			t.Fatalf("fauxqs: move the install into %s: %v", dir, err)
		}
	}
	return dir
}

func writeIfChanged(path, content string) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == content {
		return nil
	}
	tmp := fmt.Sprintf("%s.%d", path, os.Getpid())
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
