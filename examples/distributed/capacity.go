package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/startline/startline/internal/cli"
	"github.com/startline/startline/loadtest"
	htmlreport "github.com/startline/startline/loadtest/report"
	"github.com/startline/startline/timing"
)

// The capacity search of a fleet: each step of loadtest.SearchCapacitySteps
// is one distributed run (its own run id, every node started together at
// its T through the coordinator backend, the fleet's results collected and
// merged), at the step's rate split evenly over the nodes, and judged on
// the merged result. The node processes live across the steps, their pools
// warm: the orchestrator writes each step to their standard input, one
// line ("step RUN-ID RATE", the rate the node's own share), and closes it
// when the search is over; a node runs each step as it comes and ends at
// the end of its input.

// capacityFlags are the flags of the capacity search, named as
// examples/capacity names them.
type capacityFlags struct {
	on       bool
	slo      cli.List
	search   loadtest.CapacitySearch // the search's flags; SLO, Start's default and OnStep set in searchFleet
	htmlPath string
}

func (c *capacityFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.on, "capacity", false, "search for the highest fleet rate at which every -slo holds: each step one distributed run at its rate, started together through the coordinator")
	fs.Var(&c.slo, "slo", "with -capacity: a threshold every passing step's merged result holds, such as 'p99<20ms' (repeatable, or comma-separated)")
	c.search = cli.CapacityDefaults()
	c.search.MaxSteps, c.search.Budget, c.search.Start = 6, 2*time.Minute, 0 // 0: -rate, else 100 per node
	cli.CapacityFlags(fs, &c.search, "with -capacity: ", "the fleet's first rate, in operations per second (default: -rate, else 100 per node)")
	fs.StringVar(&c.htmlPath, "html", "", "with -capacity: write the search as an HTML page to this file (latency and achieved throughput against the offered rate, the knee marked)")
}

// checkRate checks -rate and the capacity search's flags before anything
// starts.
func (f flags) checkRate() error {
	switch {
	case math.IsNaN(f.rate) || math.IsInf(f.rate, 0) || f.rate < 0:
		return fmt.Errorf("-rate: want a positive number of operations per second, got %v", f.rate)
	case !f.capacity.on && len(f.capacity.slo) > 0:
		return errors.New("-slo: only with -capacity (-threshold checks a single run)")
	case !f.capacity.on && f.capacity.htmlPath != "":
		return errors.New("-html: only with -capacity")
	case !f.capacity.on:
		return nil
	case f.compare || f.reference:
		return errors.New("-capacity: not with -compare or -reference")
	case f.live != "":
		return errors.New("-capacity: not with -live (each step is a run of its own)")
	case f.abortOnFail:
		return errors.New("-capacity: not with -abort-on-fail (a step that fails its -slo ends as it is and is judged)")
	case len(f.thresholds) > 0:
		return errors.New("-capacity: give the conditions with -slo, not -threshold")
	}
	return nil
}

// nodeRate is each node's share of the fleet's -rate.
func (f flags) nodeRate() float64 { return f.rate / float64(f.workers) }

// nodeStep is one step a node runs: run id run at rate (the node's
// share), coordinated through b when the nodes are goroutines of the
// orchestrator's process (processes open their own backend).
type nodeStep struct {
	run  string
	rate float64
	b    backend
	err  error // a line that did not parse: the node ends with it
}

// line is the step as the orchestrator writes it to a node process.
func (s nodeStep) line() string {
	return "step " + s.run + " " + strconv.FormatFloat(s.rate, 'g', -1, 64) + "\n"
}

// readSteps reads the steps of r, one a line, until its end or a line
// "end"; a line that does not parse ends them too, with its error.
func readSteps(r io.Reader) <-chan nodeStep {
	out := make(chan nodeStep)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 1 && fields[0] == "end" {
				return
			}
			st := nodeStep{err: fmt.Errorf("-serve-steps: want a line \"step RUN-ID RATE\", got %q", sc.Text())}
			if len(fields) == 3 && fields[0] == "step" {
				rate, err := strconv.ParseFloat(fields[2], 64)
				if err == nil && rate > 0 && !math.IsInf(rate, 0) {
					st = nodeStep{run: fields[1], rate: rate}
				}
			}
			out <- st
			if st.err != nil {
				return
			}
		}
	}()
	return out
}

// serveSteps runs the steps as they come, on one node (one pool, warm
// across them), until steps closes or ctx ends. open opens a step's
// coordinator backend; nil means the step carries it.
func serveSteps(ctx context.Context, f flags, dbi database, steps <-chan nodeStep, open func(flags) (backend, error), log *slog.Logger) error {
	n, err := openNode(f, dbi)
	if err != nil {
		return err
	}
	defer n.close()
	for {
		var st nodeStep
		var ok bool
		select {
		case st, ok = <-steps:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return nil
		}
		if st.err != nil {
			return st.err
		}
		sf := f
		sf.run, sf.rate = st.run, st.rate
		b := st.b
		if open != nil {
			if b, err = open(sf); err != nil {
				return fmt.Errorf("step %s: %w", st.run, err)
			}
		}
		err := n.run(ctx, sf, b, log)
		if open != nil {
			b.close()
		}
		if err != nil {
			return fmt.Errorf("step %s: %w", st.run, err)
		}
	}
}

// step hands every node the next step: a line on a process's standard
// input, or the step on a goroutine's channel. A node that ended (its
// process exited, after a step that failed) fails the step at once.
func (fl *fleet) step(ctx context.Context, st nodeStep) error {
	fl.mu.Lock()
	for id, err := range fl.errs {
		fl.mu.Unlock()
		return fmt.Errorf("node %s ended before step %s: %v", id, st.run, cmp.Or(error(err), errors.New("it exited")))
	}
	fl.mu.Unlock()
	for id, in := range fl.stdin {
		if _, err := io.WriteString(in, st.line()); err != nil {
			return fmt.Errorf("node %s: handing it step %s: %w", id, st.run, err)
		}
	}
	for _, ch := range fl.steps {
		select {
		case ch <- st:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// end tells every node that the search is over, and waits for them to
// end.
func (fl *fleet) end() {
	for _, in := range fl.stdin {
		_ = in.Close()
	}
	for _, ch := range fl.steps {
		close(ch)
	}
	fl.wait()
}

// searchFleet runs the capacity search of -capacity: each step one
// distributed run (runFleet) of its own run id, f.run and ".step-N", at
// the step's rate split over the nodes, judged on the merged result. It
// prints each step as it ends (with its start: which coordinator started
// how many nodes, the start skew) and then the table and the capacity;
// -json writes the last step's merged result with "capacity" (the search)
// and "step_starts" (each step's start) added.
func searchFleet(ctx context.Context, w io.Writer, f flags, e env, nodes []string) (*loadtest.Result, error) {
	c := f.capacity
	search := c.search
	search.SLO = c.slo
	if search.Start == 0 {
		search.Start = cmp.Or(f.rate, 100*float64(f.workers))
	}
	if search.SLO == nil {
		search.SLO = []string{}
	}
	// The nodes live across the steps, each of which has its own backend
	// (runFleet's): goroutines with -coord local, else processes.
	sf := f
	sf.serveSteps = true
	// They start with the first step, so that a search that does not
	// configure fails before any node starts.
	nctx, cancelNodes := context.WithCancel(ctx)
	defer cancelNodes()
	var fl *fleet
	ended := false
	defer func() {
		if fl != nil && !ended {
			cancelNodes()
			fl.end()
		}
	}()

	var last *loadtest.Result
	var starts []stepStart
	search.OnStep = func(st loadtest.CapacityStep) {
		verdict := "pass"
		if !st.Pass {
			verdict = "FAIL " + strings.Join(st.Failed, ", ")
		}
		ss := starts[len(starts)-1]
		fmt.Fprintf(w, "step %d (%s) %s: offered %.1f/s, achieved %.1f/s, p99 %s, backlog %d -> %d: %s; %d nodes started by %s, start skew %s\n",
			len(starts), st.Kind, st.RunID, st.OfferedPerS, st.ThroughputPerS, timing.FormatDuration(st.Latency.P99),
			st.BacklogStart, st.BacklogEnd, verdict, ss.Nodes, cmp.Or(ss.Coordinator, "?"), timing.FormatDuration(ss.Skew))
	}
	capacity, serr := loadtest.SearchCapacitySteps(ctx, f.run, search, func(ctx context.Context, st loadtest.CapacityStepRun) (*loadtest.Result, error) {
		if fl == nil {
			var err error
			if fl, err = startNodes(nctx, sf, e.dbi, backend{inProcess: f.coordName(e.dbi) == "local"}, nodes); err != nil {
				return nil, err
			}
		}
		rf := sf
		rf.run, rf.rate, rf.thresholds = st.RunID, st.Rate, st.Thresholds
		m, err := runFleet(ctx, w, rf, e, nodes, fl)
		switch {
		case err != nil:
			return nil, err
		case m == nil:
			return nil, errors.New("no node's result came")
		}
		ss := stepStart{RunID: st.RunID, Nodes: len(m.Workers)}
		if m.Start != nil {
			ss.Coordinator, ss.Skew, ss.At = m.Start.Coordinator, m.Start.Skew, &m.Start.At
		}
		starts = append(starts, ss)
		last = m
		return m, nil
	})
	if capacity == nil {
		return nil, serr
	}
	if fl != nil {
		ended = true
		fl.end()
	}
	if len(capacity.Steps) > 0 {
		fmt.Fprintln(w)
		if err := capacity.WriteText(w); err != nil {
			return last, err
		}
	}
	if fl != nil {
		fl.printLogs(w)
	}
	if f.jsonPath != "" && last != nil {
		if err := writeCapacityJSON(f.jsonPath, last, capacity, starts); err != nil {
			return last, err
		}
	}
	if c.htmlPath != "" {
		if err := writeCapacityHTML(c.htmlPath, capacity); err != nil {
			return last, err
		}
	}
	return last, serr
}

// stepStart is how a step of the search started: the nodes merged, the
// coordinator backend that started them (the start report's), the start
// instant T on the step's merged axis, and the start skew.
type stepStart struct {
	RunID       string         `json:"run_id"`
	Nodes       int            `json:"nodes"`
	Coordinator string         `json:"coordinator,omitempty"`
	At          *time.Duration `json:"at_ns,omitempty"`
	Skew        time.Duration  `json:"skew_ns"`
}

// writeCapacityJSON writes the last step's merged result, as a single
// run's -json does, with "capacity" and "step_starts" added to it.
func writeCapacityJSON(path string, last *loadtest.Result, c *loadtest.Capacity, starts []stepStart) error {
	res, err := json.Marshal(last)
	if err != nil {
		return err
	}
	extra, err := json.Marshal(struct {
		Capacity   *loadtest.Capacity `json:"capacity"`
		StepStarts []stepStart        `json:"step_starts"`
	}{c, starts})
	if err != nil {
		return err
	}
	// Both are objects: the second's fields go after the first's.
	res = bytes.TrimSuffix(bytes.TrimSpace(res), []byte("}"))
	doc := append(append(res, ','), extra[1:]...)
	var out bytes.Buffer
	if err := json.Indent(&out, doc, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// writeCapacityHTML writes the search's page (report.WriteCapacityHTML).
func writeCapacityHTML(path string, c *loadtest.Capacity) error {
	return cli.WriteFile(path, func(w io.Writer) error { return htmlreport.WriteCapacityHTML(w, c) })
}
