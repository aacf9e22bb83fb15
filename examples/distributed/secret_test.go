package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate/natscoord/natsembed"
	"github.com/startline/startline/internal/secrettest"
)

// natsURL is a NATS URL to 127.0.0.1:port with a planted password.
func natsURL(port int, password string) string {
	u := url.URL{Scheme: "nats", User: url.UserPassword("startline", password), Host: fmt.Sprintf("127.0.0.1:%d", port)}
	return u.String()
}

// TestNATSCredentialsStayOut: a -nats URL with a planted password, to a
// server that takes it (one without authentication accepts any) and to
// one that is not there, never shows in the example's output: the report,
// the nodes' lines, the JSON, the orchestrator's log (standard error) and
// its error.
func TestNATSCredentialsStayOut(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	require.NoError(t, err)
	defer srv.Stop()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := free.Addr().(*net.TCPAddr).Port
	free.Close()

	for _, c := range []struct {
		name, url string
		fails     bool
	}{
		{"plain", natsURL(srv.Port(), secrettest.Secret), false},
		{"special", natsURL(srv.Port(), secrettest.Special), false},
		{"unreachable", natsURL(closedPort, secrettest.Secret), true},
		// Unescaped, the password does not parse as a URL.
		{"unparsable", "nats://startline:" + secrettest.Special + "@127.0.0.1:1", true},
		{"second of two", "nats://127.0.0.1:1,nats://startline:" + secrettest.Special + "@127.0.0.1:1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := testFlags(t, "")
			f.coord, f.nats = "nats", c.url
			var out bytes.Buffer
			var err error
			stderr := captureStderr(t, func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_, err = orchestrate(ctx, &out, f)
			})
			if c.fails {
				require.Error(t, err)
			} else {
				require.NoError(t, err, "%s", &out)
			}
			if c.name == "unreachable" {
				// The error quotes the URL (so the check below reads one
				// that could leak), with its password redacted.
				require.ErrorContains(t, err, fmt.Sprintf("127.0.0.1:%d", closedPort))
			}
			secrettest.CheckErr(t, "the orchestrator's error", err)
			secrettest.Check(t, "the report", out.String())
			secrettest.Check(t, "the orchestrator's log", stderr)
			if js, rerr := os.ReadFile(f.jsonPath); rerr == nil {
				secrettest.Check(t, "the JSON", string(js))
			}
		})
	}
}

// captureStderr runs fn with os.Stderr going to a file, and returns what
// was written there.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	require.NoError(t, err)
	defer f.Close()
	saved := os.Stderr
	os.Stderr = f
	defer func() { os.Stderr = saved }()
	fn()
	b, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	return string(b)
}
