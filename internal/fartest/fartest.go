package fartest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/faults"
)

// Harness is a backend with a server that nodes dial.
type Harness struct {
	// Upstream is the server's address (host:port).
	Upstream string
	// Run returns a fresh run: the backend of its orchestrator, which
	// reaches the server directly (its clock is the fleet's reference, or
	// is measured against the server's), and a function that returns the
	// backend of one node, dialing addr (a proxy's host:port) instead of
	// Upstream, and a function that releases it (nil if none).
	Run func(tb testing.TB) (orchestrator coordinate.Backend, member func(tb testing.TB, addr string) (coordinate.Backend, func()))
	// Options, if set, changes the kit options (the kit's defaults, but a
	// heartbeat and poll of 100ms and a wait timeout of a minute).
	Options func(*coordinate.Options)
}

// Path is the simulated path of node i: the latency of each direction
// and its jitter, and the node's clock skew.
type Path struct {
	Up, Down, Jitter time.Duration
	Skew             time.Duration
}

// MaxLatency and MaxSkew bound the simulated paths: 0 to MaxLatency each
// way, and a skew within ±MaxSkew.
const (
	MaxLatency = 20 * time.Millisecond
	MaxSkew    = 500 * time.Millisecond
)

// Paths returns the paths of n nodes, the same for every call: node 0 is
// the nearest (no latency) with the clock furthest ahead (+MaxSkew), node 1
// the furthest (MaxLatency each way) with the clock furthest behind
// (-MaxSkew), the rest drawn at random within the bounds, each direction
// on its own, with a jitter of up to a quarter of the smaller direction's
// latency (toxiproxy's resolution is a millisecond).
func Paths(n int) []Path {
	r := rand.New(rand.NewPCG(12, 7))
	ps := make([]Path, n)
	for i := range ps {
		p := &ps[i]
		switch i {
		case 0:
			p.Skew = MaxSkew
		case 1:
			p.Up, p.Down, p.Skew = MaxLatency, MaxLatency, -MaxSkew
		default:
			p.Up = time.Duration(r.IntN(int(MaxLatency/time.Millisecond)+1)) * time.Millisecond
			p.Down = time.Duration(r.IntN(int(MaxLatency/time.Millisecond)+1)) * time.Millisecond
			p.Skew = time.Duration(r.Int64N(int64(2*MaxSkew+1))) - MaxSkew
		}
		p.Jitter = min(p.Up, p.Down) / 4 / time.Millisecond * time.Millisecond
	}
	return ps
}

// Node is what one node of a far run measured and did.
type Node struct {
	Path
	// Offset and Bound are the node's measured clock offset and its bound.
	Offset, Bound time.Duration
	// Began is when the node started its first operation (its
	// SleepUntil(T) returned), on this process's clock, which is the
	// orchestrator's.
	Began time.Time
}

// Outcome is one far run: the nodes, the start instant T and the
// orchestrator's clock bound.
type Outcome struct {
	Nodes []Node
	T     time.Time
	// OrchestratorBound is the orchestrator's clock bound (zero when its
	// clock is the reference).
	OrchestratorBound time.Duration
}

// proxies starts one proxy per path to upstream, with the path's
// latencies.
func proxies(tb testing.TB, upstream string, paths []Path) []*faults.Proxy {
	out := make([]*faults.Proxy, len(paths))
	for i, p := range paths {
		out[i] = faults.Start(tb, upstream)
		if p.Down > 0 {
			out[i].Latency(tb, p.Down, p.Jitter)
		}
		if p.Up > 0 {
			out[i].LatencyUp(tb, p.Up, p.Jitter)
		}
	}
	return out
}

// start runs one far run over the proxies: every node joins through its
// own, with its own skew, and waits; the orchestrator waits until all are
// ready and starts the run with lead (raised to its MinLead).
func start(tb testing.TB, h Harness, paths []Path, px []*faults.Proxy, lead time.Duration) Outcome {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A node is lost after two seconds of silence, not the default three
	// beats: on a loaded machine a beat through a 20ms proxy can come late.
	opts := coordinate.Options{Heartbeat: 100 * time.Millisecond, Poll: 100 * time.Millisecond, MissedBeats: 20, WaitTimeout: time.Minute}
	if h.Options != nil {
		h.Options(&opts)
	}
	ob, member := h.Run(tb)
	o, err := coordinate.NewRun(ctx, ob, opts)
	if err != nil {
		tb.Fatalf("NewRun: %v", err)
	}
	n := len(paths)
	out := Outcome{Nodes: make([]Node, n)}
	_, out.OrchestratorBound = o.ClockOffset()
	errs := make([]error, n)
	backends := make([]coordinate.Backend, n)
	for i := range n {
		be, release := member(tb, px[i].Addr())
		if release != nil {
			defer release()
		}
		backends[i] = be
	}
	var wg sync.WaitGroup
	for i := range n {
		out.Nodes[i].Path = paths[i]
		wg.Go(func() {
			be := backends[i]
			o := opts
			o.ClockSkew = paths[i].Skew
			c, err := coordinate.NewClient(be, o)
			if err != nil {
				errs[i] = err
				return
			}
			m, err := c.Join(ctx, coordinate.Node{ID: fmt.Sprintf("far%02d", i), Concurrency: 1})
			if err != nil {
				errs[i] = err
				return
			}
			defer func() { _ = m.Leave(context.WithoutCancel(ctx), nil) }()
			nd := &out.Nodes[i]
			nd.Offset, nd.Bound = m.(coordinate.Clocked).ClockOffset()
			sig, err := m.Wait(ctx)
			if err == nil {
				err = coordinate.SleepUntil(ctx, sig.At)
				nd.Began = time.Now()
			}
			errs[i] = err
		})
	}
	sig, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: n}, lead)
	if err != nil {
		cancel()
		wg.Wait()
		tb.Fatalf("StartWhenReady: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("node %d (%+v): %v", i, paths[i], err)
		}
	}
	out.T = sig.At
	return out
}

// Test runs nodes far nodes (see Paths) over h and asserts that every
// node's measured offset recovers its skew within its bound, that the
// bound covers half the path's round trip (so that the latency was
// there to be measured), and that no node started before T on the
// orchestrator's clock less the node's bound and the orchestrator's.
func Test(t *testing.T, nodes int, h Harness) {
	paths := Paths(nodes)
	out := start(t, h, paths, proxies(t, h.Upstream, paths), 0)
	for i, n := range out.Nodes {
		t.Logf("node %d: up %v down %v jitter %v skew %v: offset %v ± %v, began T%+v", i, n.Up, n.Down, n.Jitter, n.Skew, n.Offset, n.Bound, n.Began.Sub(out.T))
		if d := (n.Offset - n.Skew).Abs(); d > n.Bound {
			t.Errorf("node %d (up %v, down %v, jitter %v): offset %v recovers the skew %v only to %v, beyond its bound %v",
				i, n.Up, n.Down, n.Jitter, n.Offset, n.Skew, d, n.Bound)
		}
		if least := (n.Up+n.Down)/2 - n.Jitter; n.Bound < least {
			t.Errorf("node %d: bound %v below half the path's round trip less its jitter (%v): the latency was not on the path", i, n.Bound, least)
		}
		if b := n.Bound + out.OrchestratorBound; n.Began.Before(out.T.Add(-b)) {
			t.Errorf("node %d (skew %v): began %v before T, beyond its bounds %v", i, n.Skew, out.T.Sub(n.Began), b)
		}
	}
}

// Benchmark runs the same setup as Test in each iteration (the proxies
// set up once) and reports, averaged: last-after-t-ns (how far after T,
// on the orchestrator's clock, the last node started its first
// operation), first-after-t-ns (the first node; negative if before T),
// offset-err-max-ns (the largest error of a measured offset against the
// injected skew) and bound-max-ns (the largest bound stated).
func Benchmark(b *testing.B, nodes int, h Harness) {
	paths := Paths(nodes)
	px := proxies(b, h.Upstream, paths)
	var last, first, errMax, boundMax float64
	iters := 0
	for b.Loop() {
		out := start(b, h, paths, px, 0)
		lo, hi := out.Nodes[0].Began, out.Nodes[0].Began
		var em, bm time.Duration
		for _, n := range out.Nodes {
			lo, hi = minTime(lo, n.Began), maxTime(hi, n.Began)
			em, bm = max(em, (n.Offset-n.Skew).Abs()), max(bm, n.Bound)
		}
		last += float64(hi.Sub(out.T))
		first += float64(lo.Sub(out.T))
		errMax += float64(em)
		boundMax += float64(bm)
		iters++
	}
	k := float64(iters)
	b.ReportMetric(last/k, "last-after-t-ns")
	b.ReportMetric(first/k, "first-after-t-ns")
	b.ReportMetric(errMax/k, "offset-err-max-ns")
	b.ReportMetric(boundMax/k, "bound-max-ns")
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
