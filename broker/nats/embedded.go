package nats

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a NATS server with JetStream running inside the process: a
// durable broker with no infrastructure. Start one with RunServer and
// connect brokers to it with WithServer (in-process, no TCP) or, when it
// listens on a port, with WithURL(s.ClientURL()).
type Server struct {
	srv *server.Server
	dir string

	closeOnce sync.Once
}

// ServerOption adjusts the options of a server started by RunServer. The
// nats-server options are all there for settings this package does not name.
type ServerOption func(*server.Options)

// ListenOn makes the server accept TCP clients on addr (host:port; port 0
// picks a free one). Without it the server accepts in-process connections
// only.
func ListenOn(addr string) ServerOption {
	return func(o *server.Options) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			o.Host, o.Port = addr, -2 // rejected by RunServer
			return
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			p = -2
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		o.Host, o.Port, o.DontListen = host, p, false
	}
}

// serverReady bounds how long RunServer waits for the server, JetStream
// recovery of its streams included.
const serverReady = 30 * time.Second

// RunServer starts a NATS server with JetStream storing its streams in
// storeDir (created if absent), applies opts, and returns once it accepts
// connections. Another server must not use storeDir at the same time. It
// fails when the directory or the port cannot be used.
func RunServer(storeDir string, opts ...ServerOption) (*Server, error) {
	if storeDir == "" {
		return nil, fmt.Errorf("nats: embedded server: empty store directory")
	}
	o := &server.Options{
		ServerName: "swarm-embedded",
		JetStream:  true,
		StoreDir:   storeDir,
		DontListen: true,
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoSigs:     true, // the application owns the process's signals
		NoLog:      true,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	if o.Port == -2 {
		return nil, fmt.Errorf("nats: embedded server: listen address %q is not host:port", o.Host)
	}
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("nats: embedded server in %s: %w", storeDir, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(serverReady) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("nats: embedded server in %s did not get ready within %v (is the port or the directory in use?)",
			storeDir, serverReady)
	}
	return &Server{srv: srv, dir: storeDir}, nil
}

// ClientURL is the nats:// URL of the server's TCP listener, or "" when it
// listens in-process only.
func (s *Server) ClientURL() string {
	if s.srv.Addr() == nil {
		return ""
	}
	return s.srv.ClientURL()
}

// StoreDir is where the server keeps its streams.
func (s *Server) StoreDir() string { return s.dir }

// NATS returns the underlying nats-server, for monitoring and settings this
// package does not cover.
func (s *Server) NATS() *server.Server { return s.srv }

// Close stops the server and waits until it has stopped and flushed its
// streams. Connected clients lose their connection (and reconnect, when a
// server comes back on the same address). It is safe to call more than
// once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	})
	return nil
}

// shared counts the brokers using each WithEmbeddedServer directory, so that
// they share one server, stopped when the last one closes.
var shared struct {
	mu      sync.Mutex
	servers map[string]*sharedServer
}

type sharedServer struct {
	s    *Server
	refs int
}

// acquireEmbedded returns the server of dir, starting it if no broker of
// the process uses it yet, and a function that releases it.
func acquireEmbedded(dir string) (*Server, func(), error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("nats: embedded server: store directory %s: %w", dir, err)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.servers == nil {
		shared.servers = map[string]*sharedServer{}
	}
	ss := shared.servers[abs]
	if ss == nil {
		s, err := RunServer(abs)
		if err != nil {
			return nil, nil, err
		}
		ss = &sharedServer{s: s}
		shared.servers[abs] = ss
	}
	ss.refs++
	var once sync.Once
	release := func() {
		once.Do(func() {
			shared.mu.Lock()
			defer shared.mu.Unlock()
			ss.refs--
			if ss.refs == 0 {
				delete(shared.servers, abs)
				_ = ss.s.Close()
			}
		})
	}
	return ss.s, release, nil
}
