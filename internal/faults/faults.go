// Package faults puts a TCP proxy that can misbehave between a test and a
// real server, so that tests can add latency, cut bandwidth, stall and reset
// real connections at chosen moments. It runs toxiproxy in-process: no
// toxiproxy server, no HTTP API.
package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy forwards connections from Addr to an upstream server and applies
// the faults set on it. Its methods may be called while connections are in
// flight; a fault applies to existing connections as well as new ones.
type Proxy struct {
	p *toxiproxy.Proxy
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

// Bandwidth limits data from the server to kbps kilobytes per second.
func (p *Proxy) Bandwidth(t testing.TB, kbps int) {
	t.Helper()
	p.add(t, "bandwidth", "downstream", fmt.Sprintf(`{"rate":%d}`, kbps))
}

// Stall stops all data in both directions, on every connection, until
// Clear: the connections stay open but nothing arrives, as when a network
// path or a server hangs.
func (p *Proxy) Stall(t testing.TB) {
	t.Helper()
	p.add(t, "timeout", "upstream", `{"timeout":0}`)
	p.add(t, "timeout", "downstream", `{"timeout":0}`)
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
func (p *Proxy) Clear() { p.p.Toxics.ResetToxics(context.Background()) }

func (p *Proxy) add(t testing.TB, typ, stream, attrs string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"attributes":%s}`, typ+"_"+stream, typ, stream, attrs)
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		t.Fatalf("faults: adding %s on %s: %v", typ, stream, err)
	}
}
