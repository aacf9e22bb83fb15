package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/live"
	"github.com/startline/startline/timing"
)

// The fleet, live: every node streams its intervals as they close (to the
// results store's stream table, or over NATS with -coord nats, so that the
// database under test sees none of it); the orchestrator merges them as they
// arrive, prints one line per fleet interval, checks -threshold on the
// merged measured window (and aborts every node under -abort-on-fail), and
// at the end keeps what a lost node streamed in the merged result.

// checkLive checks the flags of the fleet, live, before anything starts.
func checkLive(f flags) error {
	for _, th := range f.thresholds {
		if _, err := loadtest.ParseThreshold(th); err != nil {
			return fmt.Errorf("-threshold: %w", err)
		}
	}
	switch {
	case f.abortOnFail && len(f.thresholds) == 0:
		return errors.New("-abort-on-fail: give the thresholds to abort on with -threshold")
	case f.abortGrace < 0:
		return fmt.Errorf("-abort-grace: must not be negative, got %s", f.abortGrace)
	case f.abortGrace > 0 && !f.abortOnFail:
		return errors.New("-abort-grace: only means something with -abort-on-fail")
	}
	return nil
}

// fleetLive is the live merge of one run, following the stream in the
// background until stop.
type fleetLive struct {
	merge  *loadtest.LiveMerge
	src    loadtest.StreamSource
	cancel context.CancelFunc
	done   chan error
}

// followFleet starts merging the stream of run from T on; progress lines
// go to w.
func followFleet(ctx context.Context, w io.Writer, f flags, run *coordinate.Run, sig coordinate.Signal, nodes []string, src loadtest.StreamSource, page *livePage) (*fleetLive, error) {
	offset, _ := run.ClockOffset()
	opts := loadtest.LiveOptions{
		RunID: f.run, Nodes: nodes, Start: sig.At.Add(-offset),
		Thresholds: f.thresholds, AbortOnFail: f.abortOnFail, AbortGrace: f.abortGrace,
		Lost: run.Lost, Progress: w,
		OnAbort: func(r loadtest.ThresholdResult) {
			reason := fmt.Sprintf("threshold %s failed (measured %s)", r.Name, r.Measured())
			fmt.Fprintf(w, "fleet: %s: aborting every node\n", reason)
			if _, err := run.Send(context.WithoutCancel(ctx), coordinate.Event{Kind: coordinate.EventAbort, Reason: reason}); err != nil {
				fmt.Fprintf(w, "fleet: sending the abort: %v\n", err)
			}
		},
		OnInterval: page.interval,
	}
	m, err := loadtest.NewLiveMerge(opts)
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	l := &fleetLive{merge: m, src: src, cancel: cancel, done: make(chan error, 1)}
	if page != nil {
		page.merge.Store(m)
	}
	go func() { l.done <- m.Follow(fctx, src) }()
	return l, nil
}

// stop ends the following, after its last full read of the stream.
func (l *fleetLive) stop() error {
	l.cancel()
	return <-l.done
}

// finish merges the results, the lost nodes' streams and the
// orchestrator's timeline (see loadtest.LiveMerge.Finish).
func (l *fleetLive) finish(ctx context.Context, run *coordinate.Run, got []*loadtest.Result, lost []string) (*loadtest.Result, error) {
	return l.merge.Finish(ctx, l.src, run.Timeline(), got, lost)
}

// rebuilt returns the nodes of lost that the merged result holds, from
// their streams.
func rebuilt(m *loadtest.Result, lost []string) map[string]bool {
	out := map[string]bool{}
	if m == nil {
		return out
	}
	for _, w := range m.Workers {
		if w.Lost && w.Phases != nil && w.Phases.Warmup.Ops+w.Phases.Measure.Ops > 0 {
			out[w.Node] = true
		}
	}
	return out
}

// reportFleet prints what the live merge added: lost nodes kept, the
// stream's losses, the fleet thresholds and why the run stopped.
func reportFleet(w io.Writer, m *loadtest.Result) {
	for _, wt := range m.Workers {
		if wt.Lost && wt.Phases != nil {
			fmt.Fprintf(w, "  %s lost: kept %d measured ops from its stream\n", wt.Node, wt.Phases.Measure.Ops)
		}
	}
	if m.Stream != nil {
		fmt.Fprintln(w, m.Stream)
	}
	for _, t := range m.Thresholds {
		verdict := "ok  "
		if !t.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "threshold %s %s (measured %s)\n", verdict, t.Name, t.Measured())
	}
	if m.Stopped != "" {
		fmt.Fprintf(w, "stopped: %s\n", m.Stopped)
	}
}

// livePage is the page -live serves, and what feeds it: the nodes'
// states and the orchestrator's timeline, every quarter second.
type livePage struct {
	srv    *live.Server
	hs     *http.Server
	stopCh chan struct{}
	fed    chan struct{} // closed when feed returns
	served chan struct{} // closed when Serve returns
	once   sync.Once
	merge  atomic.Pointer[loadtest.LiveMerge] // once the run started
}

// liveLinger is how long the page is still served after the run ended,
// so that a browser on it reads the final result.
const liveLinger = 3 * time.Second

// serveLive starts serving the live page of run on addr; "" serves none.
func serveLive(w io.Writer, addr string, f flags, run *coordinate.Run, nodes []string) (*livePage, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-live: %w", err)
	}
	p := &livePage{srv: live.New(f.run), stopCh: make(chan struct{}), fed: make(chan struct{}), served: make(chan struct{})}
	p.hs = &http.Server{Handler: p.srv, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(w, "live page: http://%s/\n", ln.Addr())
	go func() {
		defer close(p.served)
		_ = p.hs.Serve(ln)
	}()
	go func() {
		defer close(p.fed)
		p.feed(run, nodes)
	}()
	return p, nil
}

// feed keeps the page's nodes and waterfall up to date until stop.
func (p *livePage) feed(run *coordinate.Run, nodes []string) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		p.update(run, nodes)
		select {
		case <-t.C:
		case <-p.stopCh:
			return
		}
	}
}

func (p *livePage) update(run *coordinate.Run, nodes []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, _ := run.Nodes(ctx)
	byID := map[string]coordinate.NodeStatus{}
	for _, s := range st {
		byID[s.ID] = s
	}
	m := p.merge.Load()
	var out []live.Node
	for _, id := range nodes {
		n := live.Node{Name: id, State: "NOT JOINED"}
		if s, ok := byID[id]; ok {
			n.State, n.Phase = string(s.Status), s.Phase
		}
		// Once a node streams, its phase is its stream's: it says when
		// the warmup gave way to the measured window (the coordinator
		// keeps the phase the node reported when it began to run).
		if m != nil {
			if ph, ok := m.Phase(id); ok {
				n.Phase = string(ph)
			}
		}
		out = append(out, n)
	}
	p.srv.Nodes(out)
	// The orchestrator's timeline, and each node's startup once its first
	// interval came.
	forming := &loadtest.Result{RunID: run.Name(), Timeline: timing.Merge(run.Timeline())}
	for _, id := range nodes {
		forming.Workers = append(forming.Workers, loadtest.WorkerTimeline{Node: id})
	}
	if m != nil {
		forming = m.Forming(run.Timeline())
	}
	_ = p.srv.Timeline(forming) // a timeline that does not draw yet waits for the next
}

// interval passes a fleet interval to the page.
func (p *livePage) interval(fi loadtest.FleetInterval) {
	if p != nil {
		p.srv.Interval(fi)
	}
}

// done shows the final result (if res is not nil) for liveLinger, then
// stops serving. Only its first call does anything.
func (p *livePage) done(run *coordinate.Run, nodes []string, res *loadtest.Result) {
	if p != nil {
		p.once.Do(func() { p.end(run, nodes, res) })
	}
}

func (p *livePage) end(run *coordinate.Run, nodes []string, res *loadtest.Result) {
	close(p.stopCh)
	<-p.fed
	p.update(run, nodes)
	if res != nil && p.srv.Done(res) == nil {
		time.Sleep(liveLinger)
	}
	p.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.hs.Shutdown(ctx)
	<-p.served
}
