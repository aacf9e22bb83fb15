package timing_test

import (
	"fmt"
	"os"
	"time"

	"github.com/startline/startline/timing"
)

func ExampleWriteWaterfall() {
	ms := time.Millisecond
	P := timing.Process
	tl := timing.Timeline{
		Node:   "worker-1",
		Anchor: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC),
		Marks: []timing.Mark{
			{Phase: timing.PoolInit, Worker: P, Start: 0, End: 400 * ms},
			{Phase: timing.PoolConn, Worker: P, Start: 1 * ms, End: 180 * ms, Detail: "conn=0"},
			{Phase: timing.PoolConn, Worker: P, Start: 1 * ms, End: 395 * ms, Detail: "conn=1", Err: "tls handshake timeout"},
			{Phase: timing.SetupProfile, Worker: P, Start: 400 * ms, End: 6900 * ms},
			{Phase: timing.CoordWait, Worker: P, Start: 6900 * ms, End: 7000 * ms},
			{Phase: timing.CoordStart, Worker: P, Start: 6990 * ms, End: 6990 * ms},
			{Phase: timing.ScaleWarmup, Worker: P, Start: 7000 * ms, End: 7004 * ms},
			{Phase: timing.QueryFirst, Worker: 0, Start: 7004 * ms, End: 7900 * ms},
			{Phase: timing.QueryFirst, Worker: 1, Start: 7090 * ms, End: 8000 * ms},
		},
	}
	if err := timing.WriteWaterfall(os.Stdout, tl); err != nil {
		fmt.Println(err)
	}
	// Output:
	// anchor 2025-01-01T12:00:00Z  node worker-1
	// phase             start       end       dur     n  0s                                              8s
	// pool.init            0s     400ms     400ms        ###...............................................
	// pool.conn           1ms     395ms     394ms    x2  ###...............................................  ! tls handshake timeout
	// setup.profile     400ms      6.9s      6.5s        ..##########################################......
	// coord.wait         6.9s        7s     100ms        ...........................................#......
	// coord.start       6.99s     6.99s        0s        ...........................................|......
	// scale.warmup         7s    7.004s       4ms        ...........................................#......
	// query.first      7.004s        8s     996ms    x2  ...........................................#######
	//
	// longest before first query: setup.profile 6.5s
	// start signal -> first query: min 14ms  median 57ms  max 100ms (2 workers)
	// start skew: 86ms
	// pool.conn open latency: min 179ms  median 286.5ms  max 394ms (2 conns)
}

func ExampleFormatDuration() {
	for _, d := range []time.Duration{87 * time.Microsecond, 12345 * time.Microsecond, 1204 * time.Millisecond} {
		fmt.Println(timing.FormatDuration(d))
	}
	// Output:
	// 87µs
	// 12.3ms
	// 1.204s
}

func ExampleMerge() {
	noon := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	orchestrator := timing.Timeline{
		Node:   "orchestrator",
		Anchor: noon,
		Marks:  []timing.Mark{{Phase: timing.CoordStart, Worker: timing.Process, Start: time.Second, End: time.Second}},
	}
	// The worker's clock runs 250ms ahead of the orchestrator's.
	worker := timing.Timeline{
		Node:        "worker-1",
		Anchor:      noon.Add(1250 * time.Millisecond),
		ClockOffset: 250 * time.Millisecond,
		Marks:       []timing.Mark{{Phase: timing.QueryFirst, Worker: 0, Start: 300 * time.Millisecond, End: 310 * time.Millisecond}},
	}
	merged := timing.Merge(worker, orchestrator)
	fmt.Println(merged.Anchor.Format(time.TimeOnly))
	for _, m := range merged.Marks {
		fmt.Println(m.Node, m.Phase, timing.FormatDuration(m.Start))
	}
	// Output:
	// 12:00:00
	// orchestrator coord.start 1s
	// worker-1 query.first 1.3s
}
