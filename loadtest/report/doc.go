// Package report renders load test results for people and for other tools.
//
// [WriteHTML] writes one self-contained HTML file: inline CSS and SVG, no
// scripts and nothing fetched from the network, so that it can be mailed,
// attached to a ticket or opened offline. For each result it shows
//
//   - the startup waterfall: every phase of the process and of each
//     worker, the start signal as a line, each worker's first query, and
//     the longest span on the path to the first query called out (see
//     timing.Summarize);
//   - for a result merged from many processes (one with Workers; see
//     loadtest.Merge), the fleet view instead, whose size does not grow
//     with the number of nodes but for one line per node: one waterfall
//     row per phase for the whole fleet (a light bar from the earliest
//     start to the latest end over all nodes, the median node's span
//     solid inside it, the slowest node named at the row's end), the
//     orchestrator's rows apart, the critical path to the first query (the
//     longest span that ends before the earliest first query, and its
//     node) outlined and named; the start across the fleet, each node's
//     first query relative to T sorted into a curve, with a band for the
//     clocks' error bounds and a sentence saying whether the spread is
//     beyond them; and, at the end of the section, each node's own startup
//     in a collapsed <details>, slowest first (the latest first query
//     relative to T; nodes that ran none before all): the 10 slowest with
//     their full waterfall, the others as a table of their phases (start
//     relative to T, duration, marks and errors), which keeps the page of
//     a 1,000-node result under 2 MB. [WriteFleetHTML] writes the fleet
//     view alone, as a fragment for a page that embeds it;
//   - throughput and p50/p99 latency over time, from the result's
//     intervals, with the warmup and measure windows shaded; for an
//     arrival-rate run, the offered rate beside the achieved throughput on
//     one chart (overloaded intervals marked), the backlog on another, and
//     each window or operation that did not keep up said in words;
//   - the measured latency distribution, from the measure phase's
//     histogram, as a percentile plot;
//   - the phase and per-operation statistics;
//   - for a pool that keeps a statement history, the server's split of
//     each operation's statements (loadtest.ServerSplit): a stacked bar of
//     the mean time queued, compiling, executing and in the client, and
//     the p50 and p99 of each part.
//
// [WriteCapacityHTML] writes the page of a capacity search
// (loadtest.SearchCapacity): achieved throughput and latency against the
// offered rate, each step a dot, the capacity found marked, and the table
// of the steps.
//
// Every label (run ids, node names, operation names, error messages) is
// escaped by html/template.
//
// [WriteIntervalsCSV] and [WriteIntervalsJSONL] write the interval series
// for users who plot in their own tools.
package report
