// Package runtimeapi is a small local implementation of the AWS Lambda
// Runtime API (next invocation, response, error), so tests run a real
// function binary, built with lambda.Start, exactly as the Lambda service
// drives it, with real event JSON.
//
// Like Lambda, the server freezes the function's process (SIGSTOP) as soon
// as it has answered an invocation and thaws it (SIGCONT) for the next one,
// so work the function leaves running after it answers, such as emits not
// yet sent, does not progress in between. When the tests run with the race
// detector, the function is built with it too, and a data race it reports
// fails the test.
package runtimeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Result is what the function answered to one invocation: a response body,
// or the error it reported.
type Result struct {
	Body     json.RawMessage
	ErrorMsg string
	Failed   bool
}

type invocation struct {
	id       string
	event    []byte
	deadline time.Time
	result   chan Result
}

// Server serves the Runtime API on a loopback port.
type Server struct {
	ts      *httptest.Server
	next    chan *invocation
	seq     atomic.Int64
	mu      sync.Mutex
	pending map[string]*invocation
	initErr chan string
	proc    *os.Process   // the function, frozen between invocations
	closed  chan struct{} // closed by Close: ends the requests still waiting
}

// New starts a server; Close stops it.
func New() *Server {
	s := &Server{next: make(chan *invocation), pending: map[string]*invocation{}, initErr: make(chan string, 1),
		closed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.serveNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.serveResult(false))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.serveResult(true))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case s.initErr <- string(b):
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	})
	s.ts = httptest.NewServer(mux)
	return s
}

// Addr is the host:port to put in AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return strings.TrimPrefix(s.ts.URL, "http://") }

// Close stops the server. A request for the next invocation still waiting
// is answered with an error first: the function may have asked for it just
// before a freeze took hold, and a frozen client never hangs up, so the
// server would wait for it forever.
func (s *Server) Close() {
	close(s.closed)
	s.ts.Close()
}

func (s *Server) serveNext(w http.ResponseWriter, r *http.Request) {
	select {
	case inv := <-s.next:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:swarm-test")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(inv.event)
	case <-s.closed:
		http.Error(w, "runtime API closed", http.StatusGone)
	case <-r.Context().Done():
	}
}

func (s *Server) serveResult(failed bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		inv := s.pending[r.PathValue("id")]
		delete(s.pending, r.PathValue("id"))
		s.mu.Unlock()
		if inv == nil {
			http.Error(w, "unknown invocation", http.StatusBadRequest)
			return
		}
		// Freeze before acknowledging the answer: from here the function
		// does nothing until the next invocation.
		if p := s.process(); p != nil {
			freeze(p)
		}
		res := Result{Body: b, Failed: failed}
		if failed {
			var e struct {
				Message string `json:"errorMessage"`
			}
			_ = json.Unmarshal(b, &e)
			res.ErrorMsg = e.Message
		}
		inv.result <- res
		w.WriteHeader(http.StatusAccepted)
	}
}

// Invoke hands event to the function with the given timeout and waits for
// its answer.
func (s *Server) Invoke(ctx context.Context, event []byte, timeout time.Duration) (Result, error) {
	inv := &invocation{
		id:       fmt.Sprintf("req-%d", s.seq.Add(1)),
		event:    event,
		deadline: time.Now().Add(timeout),
		result:   make(chan Result, 1),
	}
	s.mu.Lock()
	s.pending[inv.id] = inv
	s.mu.Unlock()
	if p := s.process(); p != nil {
		thaw(p)
	}
	select {
	case s.next <- inv:
	case msg := <-s.initErr:
		return Result{}, fmt.Errorf("function failed to initialise: %s", msg)
	case <-ctx.Done():
		return Result{}, fmt.Errorf("the function did not ask for the next invocation: %w", ctx.Err())
	}
	select {
	case res := <-inv.result:
		return res, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("no answer to %s: %w", inv.id, ctx.Err())
	}
}

func (s *Server) process() *os.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Function builds the main package in dir (a path relative to the test's
// working directory) and runs it against s with env added, as the Lambda
// service runs a provided.al2023 bootstrap. It stops at the end of the
// test, failing it if the race detector reported a data race. Run one
// function per server.
func (s *Server) Function(t testing.TB, dir string, env ...string) {
	t.Helper()
	bin := t.TempDir() + "/bootstrap"
	args := []string{"build", "-o", bin}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", dir, err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"AWS_LAMBDA_RUNTIME_API="+s.Addr(),
		"AWS_LAMBDA_FUNCTION_NAME=swarm-test",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_REGION=us-east-1",
		"_HANDLER=bootstrap",
	)
	cmd.Env = append(cmd.Env, env...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	s.mu.Lock()
	s.proc = cmd.Process
	s.mu.Unlock()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if strings.Contains(out.String(), "WARNING: DATA RACE") {
			t.Errorf("the function %s reported a data race", dir)
		}
		if t.Failed() {
			t.Logf("function output:\n%s", out.String())
		}
	})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
