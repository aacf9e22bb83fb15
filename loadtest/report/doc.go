// Package report renders load test results for people and for other tools.
//
// [WriteHTML] writes one self-contained HTML file: inline CSS and SVG, no
// scripts and nothing fetched from the network, so that it can be mailed,
// attached to a ticket or opened offline. For each result it shows
//
//   - the startup waterfall: every phase of the process and of each worker
//     (per node, for a merged result), the start signal as a line, each
//     worker's first query, and the longest span on the path to the first
//     query called out (see timing.Summarize);
//   - throughput and p50/p99 latency over time, from the result's
//     intervals, with the warmup and measure windows shaded;
//   - the measured latency distribution, from the measure phase's
//     histogram, as a percentile plot;
//   - the phase and per-operation statistics;
//   - for a pool that keeps a statement history, the server's split of
//     each operation's statements (loadtest.ServerSplit): a stacked bar of
//     the mean time queued, compiling, executing and in the client, and
//     the p50 and p99 of each part.
//
// Every label (run ids, node names, operation names, error messages) is
// escaped by html/template.
//
// [WriteIntervalsCSV] and [WriteIntervalsJSONL] write the interval series
// for users who plot in their own tools.
package report
