package natsembed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configures a Server. The zero value works: a random port on
// 127.0.0.1 and a temporary store, removed by Stop.
type Options struct {
	// Port is the client port on 127.0.0.1; 0 picks a free one (kept
	// across Restart).
	Port int
	// StoreDir is JetStream's store. Empty: a temporary folder, created by
	// Start and removed by Stop.
	StoreDir string
	// MaxPayload is the largest message the server accepts, in bytes.
	// Default: the server's (1 MiB).
	MaxPayload int32
	// ReadyTimeout bounds the wait for the server to accept connections.
	// Default: 10s.
	ReadyTimeout time.Duration
	// Log, if set, makes the server log to standard error.
	Log bool
}

// Server is an in-process nats-server with JetStream on 127.0.0.1.
type Server struct {
	opts    Options
	port    int
	dir     string
	tempDir bool

	mu  sync.Mutex
	srv *server.Server
}

// Start starts a server as opts says and waits until it accepts
// connections.
func Start(opts Options) (*Server, error) {
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("natsembed: Options.Port: %d is not a port", opts.Port)
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	s := &Server{opts: opts, port: opts.Port, dir: opts.StoreDir}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "natsembed-")
		if err != nil {
			return nil, fmt.Errorf("natsembed: creating the store folder: %w", err)
		}
		s.dir, s.tempDir = d, true
	}
	if s.port == 0 {
		p, err := freePort()
		if err != nil {
			s.removeTemp()
			return nil, err
		}
		s.port = p
	}
	if err := s.start(); err != nil {
		s.removeTemp()
		return nil, err
	}
	return s, nil
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("natsembed: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	o := &server.Options{
		ServerName: "natsembed-" + strconv.Itoa(s.port),
		Host:       "127.0.0.1",
		Port:       s.port,
		JetStream:  true,
		StoreDir:   s.dir,
		NoSigs:     true,
		NoLog:      !s.opts.Log,
		MaxPayload: s.opts.MaxPayload,
	}
	srv, err := server.NewServer(o)
	if err != nil {
		return fmt.Errorf("natsembed: %w", err)
	}
	if s.opts.Log {
		srv.ConfigureLogger()
	}
	srv.Start()
	if !srv.ReadyForConnections(s.opts.ReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("natsembed: the server on 127.0.0.1:%d is not ready after %s", s.port, s.opts.ReadyTimeout)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return errors.New("natsembed: the server started without JetStream")
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	return nil
}

// ClientURL is the URL clients connect to: nats://127.0.0.1:<port>. It is
// the same after Restart.
func (s *Server) ClientURL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the client port.
func (s *Server) Port() int { return s.port }

// StoreDir is JetStream's store folder.
func (s *Server) StoreDir() string { return s.dir }

// Shutdown stops the server and waits until every goroutine of it has
// ended, keeping its store (and port) for Restart. It is safe to call when
// the server is already down.
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts the server again on the same port and store (after
// Shutdown; a running server is shut down first). Clients that reconnect
// find their streams and buckets as they were.
func (s *Server) Restart() error {
	s.Shutdown()
	// The port may linger for a moment after the listener closed: wait
	// (a little) until it can be bound, then start once.
	addr := "127.0.0.1:" + strconv.Itoa(s.port)
	for end := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			break
		}
		if time.Now().After(end) {
			return fmt.Errorf("natsembed: restarting: port %d is taken: %w", s.port, err)
		}
	}
	return s.start()
}

// Stop shuts the server down and removes a temporary store. No goroutine
// of the server outlives it.
func (s *Server) Stop() {
	s.Shutdown()
	s.removeTemp()
}

func (s *Server) removeTemp() {
	if s.tempDir {
		_ = os.RemoveAll(s.dir)
	}
}
