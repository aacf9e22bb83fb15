package loadtest

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/startline/startline/timing"
)

// ServerShare is one part of an operation's mean latency, as a report
// draws it: the server's parts (queued for provisioning, queued for a
// slot, compiling, executing, the rest of the server's elapsed time) and
// the client's.
type ServerShare struct {
	Name string
	Mean time.Duration
}

// Shares splits the mean latency of the split's statements into the
// server's parts and the client's, in that order; the means add up to the
// mean elapsed time plus the mean client time. Nil when nothing was
// matched.
func (s *ServerSplit) Shares() []ServerShare {
	if s == nil || s.Elapsed.N == 0 {
		return nil
	}
	parts := []ServerShare{
		{"queued (provisioning)", s.QueuedProvisioning.Mean()},
		{"queued (overload)", s.QueuedOverload.Mean()},
		{"compilation", s.Compilation.Mean()},
		{"execution", s.Execution.Mean()},
	}
	rest := s.Elapsed.Mean()
	for _, p := range parts {
		rest -= p.Mean
	}
	return append(parts, ServerShare{"other server time", max(rest, 0)}, ServerShare{"client", s.Client.Mean()})
}

// writeServerSplit writes the server's split of each operation's time, if
// the result has one (see ServerSplit), or why it has none when the read
// failed.
func writeServerSplit(w io.Writer, r *Result) error {
	for _, m := range r.Timeline.Find(timing.ServerHistory) {
		if m.Err != "" {
			fmt.Fprintf(w, "server's split: the history was not read: %s\n\n", m.Err)
		}
	}
	if r.Phases.Measure.Server == nil && r.Phases.Warmup.Server == nil {
		return nil
	}
	type row struct {
		name string
		s    *ServerSplit
	}
	var rows []row
	for _, name := range slices.Sorted(maps.Keys(r.Operations)) {
		if s := r.Operations[name].Server; s != nil {
			rows = append(rows, row{name, s})
		}
	}
	rows = append(rows, row{"measure (all)", r.Phases.Measure.Server}, row{"warmup (all)", r.Phases.Warmup.Server})
	fmt.Fprintln(w, "the server's split of each statement (its own history, read after the run; p50 / p99):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation (measure)\tqueries\tmatched\tcache hits\tqueued (provisioning)\tqueued (overload)\tcompilation\texecution\tclient\t")
	f := func(d ServerDist) string {
		if d.N == 0 {
			return "-"
		}
		return timing.FormatDuration(d.P50) + " / " + timing.FormatDuration(d.P99)
	}
	sampled := false
	for _, rw := range rows {
		s := rw.s
		if s == nil {
			continue
		}
		sampled = sampled || s.Sampled
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", rw.name, s.Queries, s.Matched, s.CacheHits,
			f(s.QueuedProvisioning), f(s.QueuedOverload), f(s.Compilation), f(s.Execution), f(s.Client))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, rw := range rows[:len(rows)-2] {
		shares := rw.s.Shares()
		if shares == nil {
			continue
		}
		var total time.Duration
		for _, sh := range shares {
			total += sh.Mean
		}
		fmt.Fprintf(w, "%s: mean %s =", rw.name, timing.FormatDuration(total))
		for i, sh := range shares {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(w, "%s %s %.0f%%", sep, sh.Name, 100*float64(sh.Mean)/float64(max(total, 1)))
		}
		fmt.Fprintln(w)
	}
	if sampled {
		fmt.Fprintln(w, "sampled: the history was read only up to its cap (Config.HistoryLimit); matched counts what was read")
	}
	if s := r.Phases.Measure.Server; s != nil && s.CacheHits > 0 {
		fmt.Fprintf(w, "%d of %d statements were answered from the server's result cache: their latencies measure the cache, not the work\n",
			s.CacheHits, s.Matched)
	}
	fmt.Fprintln(w)
	return nil
}
