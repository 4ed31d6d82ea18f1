// Package kinesistest runs kinesalite, the Kinesis emulator (npm package
// kinesalite@3.3.3 on node 20), on a private 127.0.0.1 port for tests.
package kinesistest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/swarm-go/swarm/swarmtest"
)

// Version is the kinesalite release the tests run.
const Version = "3.3.3"

// Region is the region tests use; kinesalite accepts any.
const Region = "us-east-1"

// Credentials are dummy credentials; kinesalite checks none.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("swarm", "swarm", "")
}

// Emulator is a kinesalite process.
type Emulator struct {
	// Endpoint is the http URL to give kinesis.WithEndpoint.
	Endpoint string
	// Process is the server process (Restart keeps the data of a
	// persistent emulator).
	Process *swarmtest.Process
}

// Start installs kinesalite when missing (npm, into a cache directory
// outside the repository: $SWARM_KINESALITE_DIR, else the user cache) and
// runs it on a free port. Streams are created, deleted and resharded at
// once. With persistent, data is kept on disk in a test directory so that
// it survives Process.Restart. It calls swarmtest.Unavailable when node or
// npm are absent or the install fails.
func Start(t testing.TB, persistent bool) *Emulator {
	t.Helper()
	module := install(t)
	port := swarmtest.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	opts := "createStreamMs:0,deleteStreamMs:0,updateStreamMs:0,shardLimit:1000"
	if persistent {
		opts += fmt.Sprintf(",path:%q", t.TempDir())
	}
	// kinesalite throws from a request's error handler when a client aborts
	// a request mid-body (a cancelled context does), which kills the
	// process; a real endpoint shrugs, so the emulator is made to as well.
	script := fmt.Sprintf("process.on('uncaughtException', e => console.error('kinesalite: ignored:', e.code || e));"+
		"require(%q)({%s}).listen(%d, '127.0.0.1')", module, opts, port)
	p := swarmtest.StartProcess(t, addr, nil, "node", "-e", script)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kinesalite on %s printed:\n%s", addr, p.Output())
		}
	})
	return &Emulator{Endpoint: "http://" + addr, Process: p}
}

func install(t testing.TB) string {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			swarmtest.Unavailable(t, "kinesalite needs %s: %v", bin, err)
		}
	}
	dir := os.Getenv("SWARM_KINESALITE_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "swarm-go", "kinesalite-"+Version)
	}
	module := filepath.Join(dir, "node_modules", "kinesalite")
	if _, err := os.Stat(filepath.Join(module, "package.json")); err == nil {
		return module
	}
	// Install beside, then rename: concurrent test processes never see a
	// half-installed tree.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		swarmtest.Unavailable(t, "kinesalite cache %s: %v", dir, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "kinesalite-install-")
	if err != nil {
		swarmtest.Unavailable(t, "kinesalite cache %s: %v", dir, err)
	}
	defer os.RemoveAll(tmp)
	out, err := exec.Command("npm", "install", "--no-audit", "--no-fund", "--prefix", tmp, "kinesalite@"+Version).CombinedOutput()
	if err != nil {
		swarmtest.Unavailable(t, "npm install kinesalite@%s: %v: %s", Version, err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(module, "package.json")); serr != nil {
			swarmtest.Unavailable(t, "kinesalite cache %s: %v", dir, err)
		}
	}
	return module
}
