// Package faults puts a TCP proxy that can misbehave between a test and a
// real server, so that tests can add latency, cut bandwidth, stall and reset
// real connections at chosen moments. It runs toxiproxy in-process: no
// toxiproxy server, no HTTP API.
//
// Stall does not use toxiproxy's "timeout" toxic. That toxic, when it is
// removed (Clear), has its Cleanup close its stub and return without
// rewiring the "noop" stub in front of it, whose output is then a channel
// nobody reads: the next chunk the client sends (a pgx query, the
// Terminate message of a Close) blocks that noop goroutine for good, and
// with it the link's reader, and stopping the proxy does not unblock them
// (toxiproxy v2.5.0: link.go, RemoveToxic; toxics/timeout.go). Stall uses
// a toxic of this package instead, which drops what it reads as the
// timeout toxic does but has no Cleanup, so that its removal takes
// toxiproxy's usual path (interrupt, rewire). What the timeout toxic's
// Cleanup did on purpose, closing the stalled connections, whose streams
// lost bytes and cannot go on, Clear does by stopping and restarting the
// proxy, which closes every connection cleanly.
package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy forwards connections from Addr to an upstream server and applies
// the faults set on it. Its methods may be called while connections are in
// flight; a fault applies to existing connections as well as new ones.
type Proxy struct {
	p *toxiproxy.Proxy

	mu      sync.Mutex
	stalled testing.TB // the test that called Stall, until Clear; nil if none
}

// Start starts a proxy to upstream ("host:port") on a free port of
// 127.0.0.1. It is stopped when the test ends.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("faults: starting the proxy to %s: %v", upstream, err)
	}
	t.Cleanup(p.Stop)
	return &Proxy{p: p}
}

// Addr is the address to connect to instead of the upstream's.
func (p *Proxy) Addr() string { return p.p.Listen }

// Latency delays data from the server by d, plus or minus jitter.
func (p *Proxy) Latency(t testing.TB, d, jitter time.Duration) {
	t.Helper()
	p.add(t, "latency", "downstream", fmt.Sprintf(`{"latency":%d,"jitter":%d}`, d.Milliseconds(), jitter.Milliseconds()))
}

// LatencyUp delays data from the client by d, plus or minus jitter: with
// Latency, a path slow each way, and as asymmetric as one likes.
func (p *Proxy) LatencyUp(t testing.TB, d, jitter time.Duration) {
	t.Helper()
	p.add(t, "latency", "upstream", fmt.Sprintf(`{"latency":%d,"jitter":%d}`, d.Milliseconds(), jitter.Milliseconds()))
}

// Bandwidth limits data from the server to kbps kilobytes per second.
func (p *Proxy) Bandwidth(t testing.TB, kbps int) {
	t.Helper()
	p.add(t, "bandwidth", "downstream", fmt.Sprintf(`{"rate":%d}`, kbps))
}

// Stall stops all data in both directions, on every connection, until
// Clear: the connections stay open but nothing arrives, as when a network
// path or a server hangs. The data sent meanwhile is dropped, so Clear
// closes the connections that were open during the stall (new ones then
// work); a connection the client closes meanwhile is torn down cleanly.
func (p *Proxy) Stall(t testing.TB) {
	t.Helper()
	p.add(t, stallType, "upstream", `{}`)
	p.add(t, stallType, "downstream", `{}`)
	p.mu.Lock()
	p.stalled = t
	p.mu.Unlock()
}

// stallType is the toxic type of stallToxic in toxiproxy's registry.
const stallType = "startline_stall"

func init() { toxics.Register(stallType, new(stallToxic)) }

// stallToxic drops every chunk it reads. It always reads its input, so
// the stub in front of it is never stuck sending, and it has no Cleanup,
// so its removal rewires the chain (see the package doc).
type stallToxic struct{}

// Pipe implements toxics.Toxic.
func (*stallToxic) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil { // the source closed: close the link
				stub.Close()
				return
			}
		}
	}
}

// Reset resets each connection (TCP RST) as soon as it next carries data
// from the client, until Clear.
func (p *Proxy) Reset(t testing.TB) {
	t.Helper()
	p.add(t, "reset_peer", "upstream", `{"timeout":0}`)
}

// Cut closes every connection and refuses new ones until Restore, as when
// the server goes away.
func (p *Proxy) Cut() { p.p.Stop() }

// Restore accepts connections again after Cut, on the same address.
func (p *Proxy) Restore(t testing.TB) {
	t.Helper()
	if err := p.p.Start(); err != nil {
		t.Fatalf("faults: restoring the proxy: %v", err)
	}
}

// Clear removes every fault set with Latency, Bandwidth, Stall or Reset.
// After a Stall it also closes every connection (their streams lost the
// bytes sent during the stall), as the proxy's Cut and Restore do; a
// failure to listen again is reported to the test that called Stall.
func (p *Proxy) Clear() {
	p.mu.Lock()
	t := p.stalled
	p.stalled = nil
	p.mu.Unlock()
	if t == nil {
		p.p.Toxics.ResetToxics(context.Background())
		return
	}
	p.p.Lock()
	running := p.p.Enabled // not Cut
	p.p.Unlock()
	p.p.Stop()
	p.p.Toxics.ResetToxics(context.Background())
	if running {
		if err := p.p.Start(); err != nil {
			t.Errorf("faults: restarting the proxy after a stall: %v", err)
		}
	}
}

func (p *Proxy) add(t testing.TB, typ, stream, attrs string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"attributes":%s}`, typ+"_"+stream, typ, stream, attrs)
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		t.Fatalf("faults: adding %s on %s: %v", typ, stream, err)
	}
}
