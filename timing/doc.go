// Package timing records where the time of a load-test run goes, from pool
// init to the first query and beyond, and reports it.
//
// # Marks
//
// A [Mark] is one timed event of a [Phase]: a span from Start to End, or an
// instant where Start == End, for one worker goroutine or for the whole
// process ([Process]). Marks are plain values. A [Recorder] stores them
// against one monotonic base per process, as offsets (time.Duration) from
// that base, so that they are immune to wall-clock steps and cost about one
// clock read each: recording never allocates while the recorder's capacity
// holds.
//
// # The phase registry
//
// Every known [Phase] has one entry in a registry ([Phases], [Lookup]):
// its name, its order, its [Kind] (a startup span, an instant, a worker's
// span, a window, a side mark such as a retry, a scale or a fault, or a
// coordinator's mark) and its display [Class]. The waterfall's order, the
// choice of the longest span in [Summarize], the HTML report's order and
// colours and the Runner's hooks all derive from it, so that adding a
// phase is one entry there. A phase the registry does not know, such as a
// pool's own preparation phase (warehouse.resume), needs no registration:
// it is a startup span of [ClassOther], after the known phases.
//
// A Recorder shows every mark it records to one observer
// ([Recorder.Observe]): that is how the hooks of a Runner see the marks
// others record on its timeline, such as a coordinator's.
//
// # Anchors and merging
//
// Each process's [Timeline] carries one wall-clock anchor: the wall time of
// its base, offset zero. Offsets are comparable within a process; across
// processes they are made comparable through the anchors. Because hosts'
// clocks disagree, a timeline may also carry its measured ClockOffset against
// a reference clock (the coordinator's database) and the error bound of that
// measurement. [Merge] puts the marks of many timelines on one axis: the
// merged anchor is the earliest anchor after correcting each by its clock
// offset, and every mark is shifted and labelled with its process's Node.
//
// # Reports
//
// [Summarize] answers the question the package exists for: how long from the
// start signal (coord.start) to each worker's first query (query.first),
// how far apart the workers started, what the longest process-level span
// before the first query was, and how long connections took to open.
// [WriteWaterfall] draws the timeline as text, one row per phase, with that
// summary below. Timelines marshal to and from JSON (see [Timeline.MarshalJSON])
// so that worker processes can ship theirs to the orchestrator to be merged.
// [FormatDuration] formats durations the way the reports do.
package timing
