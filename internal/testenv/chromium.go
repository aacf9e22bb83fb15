package testenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Chromium returns the path of the headless browser that the HTML tests
// drive (STARTLINE_CHROMIUM, default /usr/bin/chromium: Debian's package,
// which .ci/run installs), or skips t; it fails t instead when services
// are required.
func Chromium(t testing.TB) string {
	t.Helper()
	path := os.Getenv("STARTLINE_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if Required() {
			t.Fatalf("chromium is required (STARTLINE_REQUIRE_SERVICES=1) but not found at %s: %v", path, err)
		}
		t.Skipf("chromium not found at %s (%v): install Debian's chromium package, or set STARTLINE_CHROMIUM; set STARTLINE_REQUIRE_SERVICES=1 to fail instead", path, err)
	}
	return path
}

// RunChromium runs the headless browser bin with args after a fresh
// profile and no background traffic, and returns what it printed; it fails
// t if the browser fails, and ends it after two minutes, so that a hung
// browser cannot hang the tests. resolve is its --host-resolver-rules: the
// names a page may load from ("MAP * ~NOTFOUND" for none), so that a load
// from elsewhere shows as an error.
func RunChromium(t testing.TB, bin, resolve string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--host-resolver-rules=" + resolve}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v: %s", err, errb.String())
	}
	return out.String(), errb.String()
}
