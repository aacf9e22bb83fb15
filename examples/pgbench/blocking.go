package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// blockingConn is a TCP connection whose socket is in blocking mode, read
// and written with plain system calls as a C client's thread does, instead
// of through Go's network poller.
//
// Why: with the poller, every query that waits for the server parks its
// goroutine, and a processor with nothing left to run polls epoll and
// sleeps on a futex until the reply wakes it. On this workload that is about
// one epoll_pwait and half a futex call per query more than pgbench makes
// (see PERFORMANCE.md). A blocking read sleeps in the kernel instead, and
// wakes its own thread when the reply comes. It needs a processor per
// worker (GOMAXPROCS >= clients, which run sets): a goroutine blocked in a
// system call keeps its processor, and the runtime hands it to another only
// after a sysmon tick.
//
// Deadlines are not supported, except one in the past, which shuts the
// socket down so that a read or write in progress returns at once: that is
// what a context's end needs (see client.watchCtx).
type blockingConn struct {
	f             *os.File
	local, remote net.Addr
}

// dialBlocking dials addr and hands its socket over to a blockingConn.
func dialBlocking(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close() // the blockingConn holds its own descriptor
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("pgbench: blocking I/O: %T has no file descriptor", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) {
		if fd, dupErr = syscall.Dup(int(s)); dupErr == nil {
			dupErr = syscall.SetNonblock(fd, false)
		}
	}); err != nil {
		dupErr = err
	}
	if dupErr != nil {
		if fd >= 0 {
			syscall.Close(fd)
		}
		return nil, fmt.Errorf("pgbench: blocking I/O: %w", dupErr)
	}
	return &blockingConn{
		f:      os.NewFile(uintptr(fd), "tcp:"+addr), // blocking: not on the poller
		local:  c.LocalAddr(),
		remote: c.RemoteAddr(),
	}, nil
}

func (c *blockingConn) Read(p []byte) (int, error)  { return c.f.Read(p) }
func (c *blockingConn) Write(p []byte) (int, error) { return c.f.Write(p) }
func (c *blockingConn) Close() error                { return c.f.Close() }
func (c *blockingConn) LocalAddr() net.Addr         { return c.local }
func (c *blockingConn) RemoteAddr() net.Addr        { return c.remote }

// errNoDeadline is returned for a deadline other than none or one past.
var errNoDeadline = errors.New("pgbench: blocking I/O supports no deadline but one in the past")

func (c *blockingConn) SetDeadline(t time.Time) error {
	switch {
	case t.IsZero():
		return nil
	case !t.After(time.Now()):
		// Wakes a read or write blocked on the socket; the descriptor stays
		// open until Close. Control fails instead once the file is closed,
		// so a descriptor number reused since is never touched.
		rc, err := c.f.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = syscall.Shutdown(int(fd), syscall.SHUT_RDWR) }); err != nil {
			return err
		}
		return serr
	}
	return errNoDeadline
}
func (c *blockingConn) SetReadDeadline(t time.Time) error  { return c.SetDeadline(t) }
func (c *blockingConn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }
