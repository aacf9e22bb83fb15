package faults_test

import (
	"bufio"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/internal/faults"
)

// echoServer accepts connections on 127.0.0.1 and echoes each line back
// until the test ends.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(c, c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestStallThenClear checks what a stall does to a live connection:
// nothing arrives while it holds, Clear closes the connection (its stream
// lost bytes), and a new connection works.
func TestStallThenClear(t *testing.T) {
	p := faults.Start(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	r := bufio.NewReader(c)
	_, err = c.Write([]byte("before\n"))
	require.NoError(t, err)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "before\n", line)

	p.Stall(t)
	_, err = c.Write([]byte("dropped\n"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	_, err = r.ReadString('\n')
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "nothing arrives while stalled")

	p.Clear()
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	_, err = r.ReadString('\n')
	require.ErrorIs(t, err, io.EOF, "Clear closes the stalled connection; nothing dropped arrives")

	c2, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c2.Close()
	_, err = c2.Write([]byte("after\n"))
	require.NoError(t, err)
	line, err = bufio.NewReader(c2).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "after\n", line, "a new connection works on the same address")
}

// TestStallLeavesNoGoroutines stalls connections and then, as a timed-out
// client does, writes to them and closes them, around a Clear: once the
// proxy is stopped no toxiproxy goroutine is left. (With toxiproxy's
// timeout toxic a noop stub stayed blocked: see the package doc.)
func TestStallLeavesNoGoroutines(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Run("proxy", func(t *testing.T) {
		p := faults.Start(t, echoServer(t))
		var conns []net.Conn
		for range 32 {
			c, err := net.Dial("tcp", p.Addr())
			require.NoError(t, err)
			conns = append(conns, c)
		}
		p.Stall(t)
		for _, c := range conns[:4] {
			_, err := c.Write([]byte("query\n"))
			require.NoError(t, err)
			require.NoError(t, c.Close(), "closed while stalled")
		}
		p.Clear()
		// Written right after Clear: the chunks that used to reach a noop
		// stub with nobody reading behind it.
		for _, c := range conns[4:] {
			for range 50 {
				if _, err := c.Write([]byte("terminate\n")); err != nil {
					break
				}
			}
			require.NoError(t, c.Close())
		}
		p.Stall(t) // and a stall left in place when the test ends
	})
	goleak.VerifyNone(t, ignore)
}
