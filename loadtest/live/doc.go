// Package live serves a page that shows a fleet run as it goes: the
// nodes and their states, the startup waterfall as it forms (the fleet
// view of package loadtest/report), the fleet's throughput and latency
// over time, and, when the run ends, its final numbers and report.
//
// A [Server] is a net/http handler. The orchestrator feeds it (Nodes,
// Timeline, Interval, Done) from its own goroutines; the page learns of
// every change through server-sent events on /events, and reads the
// result from /result.json. The page loads nothing from the network: its
// styles and script are inline, and its charts are SVG drawn by that
// script. Feeding never waits for a slow browser: each page has a bounded
// queue of events, and a page that falls behind is disconnected, to
// reconnect (EventSource does it by itself) and be sent the state afresh.
//
//	GET /             the page
//	GET /events       text/event-stream: reset, nodes, interval, waterfall, done
//	GET /waterfall    the startup waterfall so far (an HTML fragment)
//	GET /result.json  the final result (503 until the run ends)
//	GET /report       the final report (report.WriteHTML; 503 until then)
package live
