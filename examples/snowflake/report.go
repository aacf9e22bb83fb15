package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
	"github.com/startline/startline/timing"
)

// printGap names where the time went from the orchestrator's start
// (began) to the run's first query: along the node that ran it, each of
// its phases in order, with its wait for the start cut where the
// orchestrator saw every node ready, published the start, and the node
// saw it.
func printGap(w io.Writer, m *loadtest.Result, began time.Time) {
	tl := m.Timeline
	var first *timing.Mark
	for i, mk := range tl.Marks {
		if mk.Phase == timing.QueryFirst && (first == nil || mk.Start < first.Start) {
			first = &tl.Marks[i]
		}
	}
	if first == nil {
		return
	}
	node := first.Node
	var spans []timing.Mark
	var ready, published, seen *time.Duration
	for _, mk := range tl.Marks {
		switch {
		case mk.Phase == timing.CoordReady && mk.Node == "orchestrator":
			ready = &mk.End
		case mk.Phase == timing.CoordPublish && mk.Node == "orchestrator":
			published = &mk.End
		case mk.Phase == timing.CoordSeen && mk.Node == node:
			seen = &mk.Start
		case mk.Node == node && mk.Worker == timing.Process && mk.Phase.Kind() == timing.KindStartup && mk.End <= first.Start:
			spans = append(spans, mk)
		}
	}
	slices.SortStableFunc(spans, func(a, b timing.Mark) int { return cmp.Compare(a.Start, b.Start) })

	type part struct {
		what string
		d    time.Duration
	}
	var parts []part
	at := began.Sub(tl.Anchor) // the orchestrator's start on the merged axis
	start := at
	// A step shorter than a millisecond (the Runner going from one phase
	// to the next) joins the one after it.
	step := func(what string, to time.Duration) {
		if to-at >= time.Millisecond {
			parts = append(parts, part{what, to - at})
			at = to
		}
	}
	for i, s := range spans {
		if i == 0 {
			step("the orchestrator's setup (tables, the run's row) until "+node+" began", s.Start)
		} else {
			step("between "+string(spans[i-1].Phase)+" and "+string(s.Phase), s.Start)
		}
		if s.Phase != timing.CoordWait {
			step(string(s.Phase), s.End)
			continue
		}
		for _, cut := range []struct {
			what string
			at   *time.Duration
		}{
			{"coord.wait: until the orchestrator saw every node ready (its poll)", ready},
			{"coord.wait: the orchestrator publishing the start", published},
			{"coord.wait: until " + node + " saw the start (its poll)", seen},
		} {
			if cut.at != nil && *cut.at < s.End {
				step(cut.what, *cut.at)
			}
		}
		step("coord.wait: until T", s.End)
	}
	step("to the first query", first.Start)
	total := at - start
	fmt.Fprintf(w, "from the orchestrator's start to the first query (%s, worker %d): %s\n", node, first.Worker, timing.FormatDuration(total))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range parts {
		fmt.Fprintf(tw, "  %s\t%s\t%.0f%%\n", p.what, timing.FormatDuration(p.d), 100*float64(p.d)/float64(max(total, 1)))
	}
	_ = tw.Flush()
	if s := m.Start; s != nil {
		fmt.Fprintf(w, "start signal (T) -> first query over %d workers: median %s, max %s\n",
			s.Workers, timing.FormatDuration(s.SignalToFirstQuery.Median), timing.FormatDuration(s.SignalToFirstQuery.Max))
	}
	fmt.Fprintln(w)
}

// printStatements counts the statements the local server ran, by what
// they were for, and how many of them needed the warehouse.
func printStatements(w io.Writer, f flags, stmts []snowflaketest.Statement) {
	coord := "coordinator local (its heartbeat rows, " + heartbeatsTable + ")"
	results := "results (" + resultsTable + ", " + resultsPrefix + "* tables)"
	switch f.coord {
	case "sql":
		coord = "coordinator sql (" + coordPrefix + "* tables)"
	case "nats":
		coord = "coordinator nats (NATS JetStream: none here)"
		results = "results (over NATS: none here)"
	}
	// Creating tables is setup, whoever's tables they are.
	ddl := func(st snowflaketest.Statement) bool { return strings.HasPrefix(strings.TrimSpace(st.SQL), "CREATE ") }
	kinds := []struct {
		name string
		is   func(st snowflaketest.Statement) bool
	}{
		{coord, func(st snowflaketest.Statement) bool {
			return !ddl(st) && (strings.Contains(st.SQL, coordPrefix) || strings.Contains(st.SQL, heartbeatsTable))
		}},
		{results, func(st snowflaketest.Statement) bool {
			return !ddl(st) && (strings.Contains(st.SQL, resultsPrefix) || strings.Contains(st.SQL, resultsTable))
		}},
		{"query history reads", func(st snowflaketest.Statement) bool { return strings.Contains(st.SQL, "QUERY_HISTORY") }},
		{"workload", func(st snowflaketest.Statement) bool { return strings.Contains(st.QueryTag, `"operation":`) }},
		{"setup (tables, profiling)", func(st snowflaketest.Statement) bool { return ddl(st) || strings.Contains(st.SQL, accountsTable) }},
		{"other (logins' pings, warehouse, sessions)", func(snowflaketest.Statement) bool { return true }},
	}
	all, onWH := make([]int, len(kinds)), make([]int, len(kinds))
	for _, st := range stmts {
		for i, k := range kinds {
			if k.is(st) {
				all[i]++
				if st.WarehouseSize != "" {
					onWH[i]++
				}
				break
			}
		}
	}
	fmt.Fprintln(w, "statements the server ran, by what they were for:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\ton the warehouse\tall\t")
	for i, k := range kinds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", k.name, onWH[i], all[i])
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "the coordinator (-coord %s) ran %d statements on the warehouse\n", f.coord, onWH[0])
}
