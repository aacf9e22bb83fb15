package loadtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/profile"
)

// DefaultMaxWorkers is the default of Config.MaxWorkers.
const DefaultMaxWorkers = 1000

// DefaultDrain is how long a Runner waits, when Config.Drain is zero, for
// operations still in flight at the end of the measured window before it
// cancels their context.
const DefaultDrain = 5 * time.Second

// Defaults of the setup retries (see Config.SetupAttempts).
const (
	DefaultSetupAttempts = 3
	DefaultSetupBackoff  = 200 * time.Millisecond
)

// Defaults of the load model's settings.
const (
	DefaultInterval    = time.Second
	DefaultMaxInFlight = 1000
	DefaultLateAfter   = time.Millisecond
)

// Config describes one load test. The zero value of every optional field
// means the default its comment gives; New rejects what cannot work.
type Config struct {
	// RunID names the run in results and in the coordinator. It must match
	// [A-Za-z0-9][A-Za-z0-9_.-]{0,63}. Default: "run-" and a timestamp.
	RunID string
	// Node names this process in merged timelines and to the coordinator.
	// Default: host name and process id.
	Node string

	// Pool is the database the workload runs against. Required. The Runner
	// warms it and takes one session per worker, and never closes it.
	Pool pool.Pool
	// Conns is the number of connections warmed before the run. Default:
	// Workers.
	Conns int
	// ConnParallel bounds how many connections are opened at once. Default:
	// pool.DefaultParallel.
	ConnParallel int

	// Profiler reads the workload's tables before the run. Required when
	// Workload.Tables is not empty.
	Profiler profile.Profiler

	// Coordinator gives the start signal. Nil means start as soon as the
	// workers are ready, with no one else to wait for.
	Coordinator coordinate.Coordinator

	// Workload is what the workers do. Required.
	Workload Workload
	// Workers is the number of concurrent workers (goroutines), each with
	// its own session. It must be positive. In a closed-loop run it is the
	// initial concurrency; in an arrival-rate run, the pool of goroutines
	// that serves the schedule.
	Workers int

	// Rate, when positive, makes the run open-loop: operations are
	// scheduled at Rate per second (the initial rate when Stages are set)
	// whatever the system's speed, and their latency is measured from their
	// scheduled start. Zero means closed loop: each worker starts its next
	// operation when the previous one ends. It must not be negative, and
	// must be positive when Arrival is set.
	Rate float64
	// Arrival is how an arrival-rate run spaces its operations: evenly
	// (ArrivalConstant, the default when Rate is set) or as a Poisson
	// process (ArrivalPoisson).
	Arrival Arrival
	// MaxInFlight bounds, in an arrival-rate run, the operations scheduled
	// but not yet ended; one scheduled beyond it is dropped and counted
	// instead of queued. Default: DefaultMaxInFlight or 10 per worker,
	// whichever is larger.
	MaxInFlight int
	// LateAfter is how long after its scheduled start an operation of an
	// arrival-rate run may start before it counts as late. Default:
	// DefaultLateAfter.
	LateAfter time.Duration
	// OverloadTolerance is how far an arrival-rate run may fall short of
	// what it offered before a window counts as overloaded (Load): the
	// achieved throughput below (1 - OverloadTolerance) of the offered
	// rate, or the backlog growing by more than OverloadTolerance of the
	// operations offered. Default: DefaultOverloadTolerance; it must be
	// below 1.
	OverloadTolerance float64
	// DrainWarmup, in an arrival-rate run with a warmup, holds the
	// schedule when the warmup ends until every operation scheduled in it
	// has ended (at most Drain), and only then opens the measured window,
	// so that a backlog the warmup built up is not carried into the
	// measurement. The wait is a warmup.drain span on the timeline.
	DrainWarmup bool
	// Stages shape the target over the run: each ramps the concurrency
	// (closed loop) or the rate (arrival rate) linearly from the previous
	// stage's target (the first from Workers or Rate) to its own over its
	// duration; a stage whose target equals the previous one holds. The
	// target is adjusted once per Interval, and every change is a scale mark
	// on the timeline. With a fixed warmup the durations add up to Warmup +
	// Duration; with Steady, warmup runs at the initial target and the
	// stages shape the measured window, adding up to Duration.
	Stages []Stage

	// Warmup is how long operations run before the measured window; their
	// results are kept apart. Zero means no warmup.
	Warmup time.Duration
	// Steady, when set, ends the warmup when the system is steady instead
	// of after a fixed time (Warmup must then be zero): see Steady.
	Steady *Steady
	// Interval is the length of the intervals whose statistics the result
	// keeps as a time series and the Interval hook receives. Default:
	// DefaultInterval.
	Interval time.Duration
	// Thresholds are checked against the measured window when the run
	// ends, each written as [operation:]metric op limit, for example
	// "p99<50ms", "error_rate<0.01", "throughput>1000" or
	// "point_select:p99<20ms" (see ParseThreshold).
	Thresholds []string
	// Duration is the length of the measured window. It must be positive.
	Duration time.Duration
	// Drain bounds how long operations in flight at the end of the measured
	// window may take before their context is cancelled. Default: DefaultDrain.
	Drain time.Duration
	// HistoryLimit bounds how many statements are read back, after the
	// run, from a pool that keeps its own history of them (a
	// pool.StatementHistory, such as Snowflake's), for the server's split
	// of each operation's time (Stats.Server). Default:
	// DefaultHistoryLimit; negative means the history is not read.
	HistoryLimit int

	// OpTimeout, when positive, bounds each operation: its context has
	// that deadline, and an operation that passes it counts as an error of
	// kind "timeout". Zero means no bound but the run's own. (A bound costs
	// a context per operation; the default costs nothing.)
	OpTimeout time.Duration
	// SetupAttempts is how many times pool.init and setup.profile are
	// tried when they fail with a lost, refused or timed-out connection
	// (never for a statement error): then the phase fails, naming itself.
	// Default: DefaultSetupAttempts; 1 means no retry.
	SetupAttempts int
	// SetupBackoff is the wait before the first retry of a setup phase;
	// each further retry waits twice as long. Default: DefaultSetupBackoff.
	SetupBackoff time.Duration
	// MaxWorkers bounds the number of workers that a scale event or the
	// start signal may ask for, since each takes a session: a larger
	// target is refused, with a warning and an erring scale mark. Default:
	// DefaultMaxWorkers, or the most workers the Config itself needs if
	// that is more.
	MaxWorkers int

	// Sinks receive the test start and the result.
	Sinks []Sink
	// Stream, when set, receives every interval as it closes, off the
	// workers' path: see StreamStore. Result.Stream says what reached it.
	Stream StreamStore
	// BackgroundTestStart records the test start in the sinks concurrently
	// with the run instead of before the start signal. Its span still
	// appears on the timeline; its error, if any, is returned by Run.
	BackgroundTestStart bool
	// WritesAfterSignal moves two writes from before the start signal to
	// after it, onto the path to the first query: reporting RUNNING to
	// the coordinator and recording the test start in the sinks. Harnesses
	// that make those writes once the signal arrives start this way; the
	// option exists to measure what that order costs, and the examples'
	// -reference flag sets it. Default false: both writes happen before
	// coord.wait, so that only the gate lies between T and the first query.
	WritesAfterSignal bool

	// Hooks are called as the run goes through its phases.
	Hooks Hooks
	// Seed seeds the workers' random sources (worker i uses Seed+i). Zero
	// means a random seed; the seed used is recorded in the Result.
	Seed uint64
	// Labels are copied into the Result as they are: what the team wants
	// to find the run by later (a build, a dataset, a ticket). They must
	// not hold secrets.
	Labels map[string]string
	// Logger receives warnings (for example ignored control events).
	// Default: discard.
	Logger *slog.Logger
}

// Workload is a weighted set of named operations, and the tables whose
// profile gives them their parameters.
type Workload struct {
	// Tables are profiled before the run; operations read the profile
	// through Worker.Profile.
	Tables []profile.TableSpec
	// Operations are chosen at random in proportion to their weights.
	Operations []Operation
}

// Operation is one kind of work a worker does.
type Operation struct {
	// Name identifies the operation in results; names are unique.
	Name string
	// Weight is the operation's relative frequency. Zero means never
	// chosen; weights must not all be zero.
	Weight int
	// Run does the operation once. It is called by one worker goroutine at a
	// time, with that worker's state, and must return when ctx is done.
	Run func(ctx context.Context, w *Worker) error
}

// QueryOp returns an operation that runs query on the worker's session, with
// the arguments that args appends to buf (buf is reused from call to call, so
// that building the arguments need not allocate). args may be nil.
func QueryOp(name string, weight int, query string, args func(w *Worker, buf []any) []any) Operation {
	return Operation{Name: name, Weight: weight, Run: func(ctx context.Context, w *Worker) error {
		var a []any
		if args != nil {
			a = args(w, w.args[:0])
			w.args = a
		}
		_, err := w.session.Query(ctx, query, a...)
		return err
	}}
}

// withDefaults returns cfg with its defaults filled in, or the first field
// that is invalid.
func (cfg Config) withDefaults() (Config, error) {
	bad := func(field, format string, args ...any) (Config, error) {
		return cfg, &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if cfg.Pool == nil {
		return bad("Pool", "is required")
	}
	if cfg.Workers <= 0 {
		return bad("Workers", "must be positive, got %d", cfg.Workers)
	}
	if cfg.Conns < 0 {
		return bad("Conns", "must not be negative, got %d", cfg.Conns)
	}
	if cfg.ConnParallel < 0 {
		return bad("ConnParallel", "must not be negative, got %d", cfg.ConnParallel)
	}
	if cfg.Warmup < 0 {
		return bad("Warmup", "must not be negative, got %v", cfg.Warmup)
	}
	if cfg.Duration <= 0 {
		return bad("Duration", "must be positive, got %v", cfg.Duration)
	}
	if cfg.Drain < 0 {
		return bad("Drain", "must not be negative, got %v", cfg.Drain)
	}
	if cfg.OpTimeout < 0 {
		return bad("OpTimeout", "must not be negative, got %v", cfg.OpTimeout)
	}
	if cfg.SetupAttempts < 0 {
		return bad("SetupAttempts", "must not be negative, got %d", cfg.SetupAttempts)
	}
	if cfg.SetupBackoff < 0 {
		return bad("SetupBackoff", "must not be negative, got %v", cfg.SetupBackoff)
	}
	if cfg.MaxWorkers < 0 {
		return bad("MaxWorkers", "must not be negative, got %d", cfg.MaxWorkers)
	}
	if err := cfg.validateLoadModel(); err != nil {
		return cfg, err
	}
	if cfg.RunID != "" {
		if err := coordinate.ValidRunID(cfg.RunID); err != nil {
			return bad("RunID", "%v", err)
		}
	}
	ops := cfg.Workload.Operations
	if len(ops) == 0 {
		return bad("Workload.Operations", "is empty")
	}
	names := make(map[string]bool, len(ops))
	total := 0
	for i, op := range ops {
		field := "Workload.Operations[" + strconv.Itoa(i) + "]"
		switch {
		case op.Name == "":
			return bad(field+".Name", "is empty")
		case names[op.Name]:
			return bad(field+".Name", "%q is used twice", op.Name)
		case op.Weight < 0:
			return bad(field+".Weight", "must not be negative, got %d", op.Weight)
		case op.Run == nil:
			return bad(field+".Run", "is nil")
		}
		names[op.Name] = true
		total += op.Weight
	}
	if total == 0 {
		return bad("Workload.Operations", "weights sum to zero")
	}
	for i, t := range cfg.Workload.Tables {
		field := "Workload.Tables[" + strconv.Itoa(i) + "]"
		if err := dialect.ValidIdent(t.Table); err != nil {
			return bad(field+".Table", "%v", err)
		}
		if t.Key != "" {
			if err := dialect.ValidIdent(t.Key); err != nil {
				return bad(field+".Key", "%v", err)
			}
		}
		for j, c := range t.Columns {
			if err := dialect.ValidIdent(c); err != nil {
				return bad(field+".Columns["+strconv.Itoa(j)+"]", "%v", err)
			}
		}
		if t.Sample < 0 {
			return bad(field+".Sample", "must not be negative, got %d", t.Sample)
		}
	}
	if len(cfg.Workload.Tables) > 0 && cfg.Profiler == nil {
		return bad("Profiler", "is required when Workload.Tables is not empty")
	}
	for i, s := range cfg.Sinks {
		if s == nil {
			return bad("Sinks["+strconv.Itoa(i)+"]", "is nil")
		}
	}

	if cfg.Conns == 0 {
		cfg.Conns = cfg.Workers
	}
	if cfg.ConnParallel == 0 {
		cfg.ConnParallel = pool.DefaultParallel
	}
	if cfg.Drain == 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.HistoryLimit == 0 {
		cfg.HistoryLimit = DefaultHistoryLimit
	}
	if cfg.SetupAttempts == 0 {
		cfg.SetupAttempts = DefaultSetupAttempts
	}
	if cfg.SetupBackoff == 0 {
		cfg.SetupBackoff = DefaultSetupBackoff
	}
	cfg.setLoadModelDefaults()
	if cfg.MaxWorkers == 0 {
		cfg.MaxWorkers = max(DefaultMaxWorkers, cfg.maxWorkers())
	}
	if cfg.Node == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "node"
		}
		cfg.Node = host + "-" + strconv.Itoa(os.Getpid())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}
