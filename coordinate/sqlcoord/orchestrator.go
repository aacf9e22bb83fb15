package sqlcoord

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// LostPolicy says what the orchestrator does when a worker misses its
// heartbeats.
type LostPolicy int

const (
	// LostAbort, the default, aborts the run: before the start the run row
	// becomes ABORTED (every waiting worker's Wait fails with
	// coordinate.ErrAborted), after it an abort event is sent; AwaitReady
	// and Collect return an error wrapping ErrLost.
	LostAbort LostPolicy = iota
	// LostContinue goes on with the rest: a lost worker no longer counts
	// towards the Readiness rule's "all", and Collect returns the other
	// workers' results.
	LostContinue
)

// String returns "abort" or "continue".
func (p LostPolicy) String() string {
	if p == LostContinue {
		return "continue"
	}
	return "abort"
}

// Phases of the orchestrator's own timeline, beside loadtest.PhasePublish
// and loadtest.PhaseSeen.
const (
	// PhaseReady spans AwaitReady.
	PhaseReady timing.Phase = "coord.ready"
	// PhaseLost is an instant: a worker (named by the mark's Node) was
	// declared lost.
	PhaseLost timing.Phase = "coord.lost"
)

// OrchestratorOptions configures an Orchestrator. Zero values mean the
// defaults given.
type OrchestratorOptions struct {
	// Tables says where the tables are. Required: DB and Dialect.
	Tables Tables
	// RunID names the run to create. Required.
	RunID string
	// Workers, if positive, is recorded in the run row as the number of
	// workers expected, for people and tools reading the tables; the
	// Readiness passed to AwaitReady decides.
	Workers int
	// Heartbeat is the workers' heartbeat interval (their
	// Options.Heartbeat). Default: coordinate.DefaultHeartbeat.
	Heartbeat time.Duration
	// MissedBeats is how many heartbeats a worker may miss before it is
	// declared lost: its last beat is older than MissedBeats*Heartbeat.
	// Default: DefaultMissedBeats.
	MissedBeats int
	// OnLost is what happens when a worker is lost. Default: LostAbort.
	OnLost LostPolicy
	// Poll is how often AwaitReady and Collect read the workers table.
	// Default: DefaultPoll.
	Poll time.Duration
	// Retries is how many consecutive failed reads AwaitReady and Collect
	// tolerate. Default: DefaultRetries.
	Retries int
	// ClockSamples is how many times the database clock is read to measure
	// the orchestrator's offset. Default: DefaultClockSamples.
	ClockSamples int
	// Notifier, if set, is told of every change to the run row and of every
	// event, to wake the workers (see Notifier).
	Notifier Notifier
	// Logger receives warnings. Default: discard.
	Logger *slog.Logger
}

// Orchestrator is the orchestrator side of a run kept in SQL tables. It
// implements coordinate.Orchestrator, and creates the run, declares workers
// lost, and collects their results. One Orchestrator serves one run; its
// methods are safe for concurrent use.
//
// It records its own timeline (node "orchestrator", with its clock offset
// against the database): the readiness wait, the publication of the start,
// the start instant, when each worker saw the start, lost workers. Merge it
// with the workers' results with loadtest.MergeWith.
type Orchestrator struct {
	s             *schema
	opts          OrchestratorOptions
	offset, bound time.Duration
	rec           *timing.Recorder

	mu      sync.Mutex // serializes Start, Send and aborts: events get their Seq in order
	seq     int64
	started bool
	aborted bool
	at      time.Time

	lostMu sync.Mutex
	lost   map[string]bool

	badWorkers warnOnce // the skipped worker rows already logged
}

var _ coordinate.Orchestrator = (*Orchestrator)(nil)

// OrchestratorNode is the Node of the orchestrator's timeline.
const OrchestratorNode = "orchestrator"

// NewOrchestrator validates opts, creates the tables if needed, measures the
// clock offset against the database and creates the run (status WAITING).
// A run id that already has a row gets ErrRunExists.
func NewOrchestrator(ctx context.Context, opts OrchestratorOptions) (*Orchestrator, error) {
	s, err := opts.Tables.compile()
	if err != nil {
		return nil, err
	}
	if err := validRunID("OrchestratorOptions.RunID", opts.RunID); err != nil {
		return nil, err
	}
	switch {
	case opts.Workers < 0:
		return nil, fmt.Errorf("%w: OrchestratorOptions.Workers is %d, must not be negative", ErrInvalid, opts.Workers)
	case opts.Heartbeat < 0, opts.Poll < 0:
		return nil, fmt.Errorf("%w: OrchestratorOptions.Heartbeat (%s) and Poll (%s) must not be negative", ErrInvalid, opts.Heartbeat, opts.Poll)
	case opts.MissedBeats < 0, opts.Retries < 0, opts.ClockSamples < 0:
		return nil, fmt.Errorf("%w: OrchestratorOptions.MissedBeats, Retries and ClockSamples must not be negative", ErrInvalid)
	case opts.OnLost != LostAbort && opts.OnLost != LostContinue:
		return nil, fmt.Errorf("%w: OrchestratorOptions.OnLost is %d, not LostAbort or LostContinue", ErrInvalid, opts.OnLost)
	}
	opts.Heartbeat = cmp.Or(opts.Heartbeat, coordinate.DefaultHeartbeat)
	opts.MissedBeats = cmp.Or(opts.MissedBeats, DefaultMissedBeats)
	opts.Poll = cmp.Or(opts.Poll, DefaultPoll)
	opts.Retries = cmp.Or(opts.Retries, DefaultRetries)
	opts.ClockSamples = cmp.Or(opts.ClockSamples, DefaultClockSamples)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	o := &Orchestrator{s: s, opts: opts, rec: timing.NewRecorder(OrchestratorNode, 64), lost: map[string]bool{}}
	fail := func(err error) (*Orchestrator, error) {
		return nil, fmt.Errorf("sqlcoord: creating run %q: %w", opts.RunID, err)
	}
	if err := s.create(ctx); err != nil {
		return fail(err)
	}
	if o.offset, o.bound, err = s.measureClock(ctx, opts.ClockSamples); err != nil {
		return fail(err)
	}
	o.rec.SetClockOffset(o.offset, o.bound)
	if _, err := s.db.ExecContext(ctx, s.q.insertRun, opts.RunID, opts.Workers, o.dbNow()); err != nil {
		if _, rerr := s.readRun(ctx, s.db, opts.RunID); rerr == nil {
			return nil, fmt.Errorf("%w: %q", ErrRunExists, opts.RunID)
		}
		return fail(err)
	}
	if o.seq, err = s.maxSeq(ctx, opts.RunID); err != nil {
		return fail(err)
	}
	return o, nil
}

// ClockOffset returns how far the orchestrator's clock runs ahead of the
// database's, and the bound on that estimate.
func (o *Orchestrator) ClockOffset() (offset, bound time.Duration) { return o.offset, o.bound }

// Timeline returns the orchestrator's timeline so far.
func (o *Orchestrator) Timeline() timing.Timeline { return o.rec.Timeline() }

func (o *Orchestrator) dbNow() int64             { return o.dbNS(time.Now()) }
func (o *Orchestrator) dbNS(t time.Time) int64   { return t.Add(-o.offset).UnixNano() }
func (o *Orchestrator) local(ns int64) time.Time { return time.Unix(0, ns).Add(o.offset) }
func (o *Orchestrator) notify(ctx context.Context) {
	if o.opts.Notifier == nil {
		return
	}
	if err := o.opts.Notifier.Notify(ctx, o.s.notifyChannel, o.opts.RunID); err != nil {
		// The workers' polls still see the row.
		o.opts.Logger.Warn("sqlcoord: notifying the workers failed", "err", err)
	}
}

// workerRow is a worker as the orchestrator reads it.
type workerRow struct {
	st             coordinate.WorkerStatus
	beatNS, seenNS int64
	offset, bound  int64
}

// readWorkers reads the run's workers. A row whose integer columns hold
// something else (SQLite's loose typing, a hostile writer) is logged once
// and skipped: one bad row must not blind the orchestrator to the others.
func (o *Orchestrator) readWorkers(ctx context.Context) ([]workerRow, error) {
	rows, err := o.s.db.QueryContext(ctx, o.s.q.readWorkers, o.opts.RunID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []workerRow
	for rows.Next() {
		var w workerRow
		var id, state, phase sql.NullString
		var conc, readyNS, beatNS, seenNS, offset, bound looseInt
		var errText sql.NullString
		if err := rows.Scan(&id, &state, &phase, &conc, &readyNS, &beatNS, &seenNS, &offset, &bound, &errText); err != nil {
			o.skipWorker(id.String, err)
			continue
		}
		if bad := errors.Join(named("concurrency", conc), named("ready_ns", readyNS), named("beat_ns", beatNS),
			named("seen_ns", seenNS), named("clock_offset_ns", offset), named("clock_error_ns", bound)); bad != nil {
			o.skipWorker(id.String, bad)
			continue
		}
		w.st.ID, w.st.Status, w.st.Phase, w.st.Concurrency = id.String, coordinate.Status(state.String), phase.String, int(conc.Int64)
		w.beatNS, w.seenNS, w.offset, w.bound = beatNS.Int64, seenNS.Int64, offset.Int64, bound.Int64
		if readyNS.Int64 != 0 {
			w.st.Ready = o.local(readyNS.Int64)
		}
		w.st.LastBeat = o.local(w.beatNS)
		if errText.Valid && errText.String != "" {
			w.st.Err = errors.New(errText.String)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// named says which column of a worker row is not an integer, if any.
func named(col string, v looseInt) error {
	if v.Err != nil {
		return fmt.Errorf("%s: %w", col, v.Err)
	}
	return nil
}

// skipWorker logs a skipped worker row, once per worker.
func (o *Orchestrator) skipWorker(id string, err error) {
	log, full := o.badWorkers.first(id)
	switch {
	case log:
		o.opts.Logger.Warn("sqlcoord: ignoring an unreadable worker row", "worker", id, "err", err)
	case full:
		o.opts.Logger.Warn("sqlcoord: too many unreadable worker rows; no longer logging them", "logged", maxWarned)
	}
}

// Workers returns the state of every worker that joined the run, sorted by
// ID, with times on the orchestrator's clock.
func (o *Orchestrator) Workers(ctx context.Context) ([]coordinate.WorkerStatus, error) {
	rows, err := o.readWorkers(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlcoord: reading the workers of run %q: %w", o.opts.RunID, err)
	}
	out := make([]coordinate.WorkerStatus, len(rows))
	for i, w := range rows {
		out[i] = w.st
	}
	return out, nil
}

func final(s coordinate.Status) bool {
	return s == coordinate.StatusDone || s == coordinate.StatusFailed || s == coordinate.StatusLost
}

// CheckLost declares lost every worker, not yet done, failed or lost, whose
// last heartbeat is older than MissedBeats*Heartbeat, and applies the
// OnLost policy. It returns the workers newly declared lost; under
// LostAbort the error wraps ErrLost when there are any. AwaitReady and
// Collect call it on every poll; call it yourself to watch a running run.
func (o *Orchestrator) CheckLost(ctx context.Context) ([]string, error) {
	rows, err := o.readWorkers(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlcoord: reading the workers of run %q: %w", o.opts.RunID, err)
	}
	return o.checkLost(ctx, rows)
}

func (o *Orchestrator) checkLost(ctx context.Context, rows []workerRow) ([]string, error) {
	budget := int64(o.opts.MissedBeats) * int64(o.opts.Heartbeat)
	now := o.dbNow()
	var lost []string
	for i, w := range rows {
		if final(w.st.Status) || now-w.beatNS <= budget {
			continue
		}
		res, err := o.s.db.ExecContext(ctx, o.s.q.lost, o.opts.RunID, w.st.ID)
		if err != nil {
			return lost, fmt.Errorf("sqlcoord: declaring worker %q lost: %w", w.st.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // it finished meanwhile
		}
		rows[i].st.Status = coordinate.StatusLost
		lost = append(lost, w.st.ID)
		at := o.rec.Now()
		o.rec.Record(timing.Mark{Phase: PhaseLost, Worker: timing.Process, Start: at, End: at, Node: w.st.ID,
			Detail: fmt.Sprintf("last beat %s ago", time.Duration(now-w.beatNS).Round(time.Millisecond))})
		o.lostMu.Lock()
		o.lost[w.st.ID] = true
		o.lostMu.Unlock()
		o.opts.Logger.Warn("sqlcoord: worker lost", "worker", w.st.ID, "last_beat_ago", time.Duration(now-w.beatNS), "policy", o.opts.OnLost.String())
	}
	if len(lost) == 0 || o.opts.OnLost == LostContinue {
		return lost, nil
	}
	reason := fmt.Sprintf("workers lost: %v", lost)
	if _, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventAbort, Reason: reason}); err != nil && !errors.Is(err, coordinate.ErrAborted) {
		return lost, errors.Join(fmt.Errorf("%w: %v (policy abort)", ErrLost, lost), err)
	}
	return lost, fmt.Errorf("%w: %v missed %d heartbeats (policy abort: run aborted)", ErrLost, lost, o.opts.MissedBeats)
}

// Lost returns the workers declared lost so far, sorted.
func (o *Orchestrator) Lost() []string {
	o.lostMu.Lock()
	defer o.lostMu.Unlock()
	out := make([]string, 0, len(o.lost))
	for id := range o.lost {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// AwaitReady implements coordinate.Orchestrator: it reads the workers table
// every Poll until the readiness rule r holds, declaring lost workers on
// the way (see CheckLost and OnLost). Under LostContinue a lost worker is
// taken off the number that makes "all".
func (o *Orchestrator) AwaitReady(ctx context.Context, r coordinate.Readiness) (ready []coordinate.WorkerStatus, err error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	begin := o.rec.Now()
	defer func() { o.rec.Span(PhaseReady, timing.Process, begin, err) }()
	start := time.Now()
	var deadline <-chan time.Time
	if r.Deadline > 0 {
		t := time.NewTimer(r.Deadline)
		defer t.Stop()
		deadline = t.C
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	want := r.Want()
	passed, failures := false, 0
	var missing []string
	never := 0
	for {
		o.mu.Lock()
		aborted := o.aborted
		o.mu.Unlock()
		if aborted {
			return nil, fmt.Errorf("sqlcoord: %s: %w", PhaseReady, coordinate.ErrAborted)
		}
		rows, err := o.readWorkers(ctx)
		if err != nil && ctx.Err() == nil {
			if failures++; failures > o.opts.Retries {
				return nil, fmt.Errorf("sqlcoord: %s: reading the workers failed %d times in a row: %w", PhaseReady, failures, err)
			}
		}
		if err == nil {
			failures = 0
			if _, err := o.checkLost(ctx, rows); err != nil {
				return nil, fmt.Errorf("sqlcoord: %s: %w", PhaseReady, err)
			}
			var lostN int
			ready, missing, lostN = readiness(rows, r)
			gone := 0
			if o.opts.OnLost == LostContinue {
				gone = lostN
			}
			never = max(0, want-gone-len(ready)-len(missing))
			if len(r.Expect) > 0 {
				never = 0
			}
			if r.Met(len(ready), gone, passed) {
				return ready, nil
			}
		}
		notReady := func(cause error) error {
			return r.NotReady(ready, missing, never, time.Since(start), passed, cause)
		}
		if passed {
			return nil, notReady(nil)
		}
		timer.Reset(o.opts.Poll)
		select {
		case <-timer.C:
		case <-deadline:
			passed = true
		case <-ctx.Done():
			return nil, notReady(ctx.Err())
		}
	}
}

// readiness splits rows by rule r: the ready workers, the IDs known not to
// be ready (lost ones included), and how many of the counted were lost.
func readiness(rows []workerRow, r coordinate.Readiness) (ready []coordinate.WorkerStatus, missing []string, lost int) {
	byID := make(map[string]coordinate.WorkerStatus, len(rows))
	for _, w := range rows {
		byID[w.st.ID] = w.st
	}
	ids := r.Expect
	if len(ids) == 0 {
		for _, w := range rows {
			ids = append(ids, w.st.ID)
		}
	}
	for _, id := range ids {
		st, ok := byID[id]
		switch {
		case ok && (st.Status == coordinate.StatusReady || st.Status == coordinate.StatusRunning):
			ready = append(ready, st)
		case ok && st.Status == coordinate.StatusLost:
			lost++
			missing = append(missing, id)
		default:
			missing = append(missing, id)
		}
	}
	slices.Sort(missing)
	return ready, missing, lost
}

// Start implements coordinate.Orchestrator: it writes the start instant at
// (given on the orchestrator's clock, stored on the database's) into the
// run row, then notifies the workers. A second Start gets
// coordinate.ErrStarted; a Start after an abort gets coordinate.ErrAborted.
func (o *Orchestrator) Start(ctx context.Context, at time.Time) (coordinate.Signal, error) {
	if at.IsZero() {
		return coordinate.Signal{}, fmt.Errorf("%w: start instant at is zero", ErrInvalid)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.started:
		return coordinate.Signal{}, fmt.Errorf("%w (at %s)", coordinate.ErrStarted, o.at.Format(time.RFC3339Nano))
	case o.aborted:
		return coordinate.Signal{}, fmt.Errorf("sqlcoord: start: %w", coordinate.ErrAborted)
	}
	published := time.Now()
	pubOff := o.rec.Offset(published)
	res, err := o.s.db.ExecContext(ctx, o.s.q.startRun, o.dbNS(published), o.dbNS(at), o.seq, o.opts.RunID)
	if err == nil {
		if n, rerr := res.RowsAffected(); rerr == nil && n == 0 {
			err = errors.New("the run row is no longer WAITING")
		}
	}
	if err != nil {
		return coordinate.Signal{}, fmt.Errorf("sqlcoord: publishing the start of run %q: %w", o.opts.RunID, err)
	}
	o.started, o.at = true, at
	o.notify(ctx)
	o.rec.Record(timing.Mark{Phase: loadtest.PhasePublish, Worker: timing.Process, Start: pubOff, End: o.rec.Now()})
	o.rec.Instant(timing.CoordStart, timing.Process, o.rec.Offset(at))
	return coordinate.Signal{At: at, Published: published}, nil
}

// StartWhenReady waits for r (see AwaitReady), then starts the run lead
// from now. The lead must cover the time workers take to learn of the start:
// about one Poll without a Notifier, a few milliseconds with one.
func (o *Orchestrator) StartWhenReady(ctx context.Context, r coordinate.Readiness, lead time.Duration) (coordinate.Signal, error) {
	if lead < 0 {
		return coordinate.Signal{}, fmt.Errorf("%w: lead is %s, must not be negative", ErrInvalid, lead)
	}
	if _, err := o.AwaitReady(ctx, r); err != nil {
		return coordinate.Signal{}, err
	}
	return o.Start(ctx, time.Now().Add(lead))
}

// Send implements coordinate.Orchestrator. Every event is inserted into the
// events table with the next Seq (unique per run: the table's primary key
// is (run_id, seq)): one above both the last it sent and the highest seq
// of a known kind already in the table (see schema.maxSeq), so that rows
// written by others do not collide with it. If that seq is the largest an
// int64 holds, Send fails with ErrSeqOverflow. Before the start, a stop or abort also ends the run
// (the row becomes ABORTED and every Wait fails with coordinate.ErrAborted)
// and a scale sets the Concurrency of the Signal that Start will publish;
// after it, members read the event on their next poll or notification.
func (o *Orchestrator) Send(ctx context.Context, e coordinate.Event) (coordinate.Event, error) {
	switch e.Kind {
	case coordinate.EventStop, coordinate.EventAbort:
	case coordinate.EventScale:
		if e.Concurrency <= 0 {
			return coordinate.Event{}, fmt.Errorf("%w: Event.Concurrency is %d, must be positive for a scale event", ErrInvalid, e.Concurrency)
		}
	default:
		return coordinate.Event{}, fmt.Errorf("%w: Event.Kind %q is not stop, abort or scale", ErrInvalid, e.Kind)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.aborted {
		return coordinate.Event{}, fmt.Errorf("sqlcoord: send %s: %w", e.Kind, coordinate.ErrAborted)
	}
	// Number after any event already in the table (another orchestrator's,
	// or one written by hand), so that the insert does not collide.
	top, err := o.s.maxSeq(ctx, o.opts.RunID)
	if err != nil {
		return coordinate.Event{}, fmt.Errorf("sqlcoord: send %s: reading the last seq: %w", e.Kind, err)
	}
	top = max(top, o.seq)
	if top == math.MaxInt64 {
		return coordinate.Event{}, fmt.Errorf("%w: send %s: the events table of run %q already holds seq %d, the largest there is", ErrSeqOverflow, e.Kind, o.opts.RunID, top)
	}
	e.Seq = top + 1
	if _, err := o.s.db.ExecContext(ctx, o.s.q.insertEvent, o.opts.RunID, e.Seq, string(e.Kind), e.Concurrency, e.Reason, o.dbNow()); err != nil {
		return coordinate.Event{}, fmt.Errorf("sqlcoord: send %s: %w", e.Kind, err)
	}
	o.seq = e.Seq
	if !o.started {
		var err error
		if e.Kind == coordinate.EventScale {
			_, err = o.s.db.ExecContext(ctx, o.s.q.scaleRun, e.Concurrency, o.opts.RunID)
		} else {
			reason := fmt.Sprintf("%s event %d", e.Kind, e.Seq)
			if e.Reason != "" {
				reason += ": " + e.Reason
			}
			_, err = o.s.db.ExecContext(ctx, o.s.q.endRun, runAborted, reason, o.opts.RunID)
			o.aborted = err == nil
		}
		if err != nil {
			return e, fmt.Errorf("sqlcoord: send %s: updating the run row: %w", e.Kind, err)
		}
	}
	o.notify(ctx)
	return e, nil
}

// Collect waits until every worker that joined has left (DONE or FAILED)
// with its result stored, or has been declared lost, and returns the
// results, sorted by node. It polls every Poll and declares lost workers on
// the way. When ctx ends first it returns the results it has and an error
// naming the workers still missing. Results that do not decode
// (loadtest.DecodeResult: bad JSON, counts that contradict each other) are
// reported in the error, naming the worker and the field, and the other
// workers' results are returned all the same. Worker rows that cannot be
// read (an integer column holding text) are logged once and passed over. It also records, on the
// orchestrator's timeline, when each worker saw the start (PhaseSeen).
func (o *Orchestrator) Collect(ctx context.Context) ([]*loadtest.Result, error) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	failures := 0
	var lostErr error
	for {
		rows, err := o.readWorkers(ctx)
		if err == nil {
			if _, lerr := o.checkLost(ctx, rows); lerr != nil {
				lostErr = lerr
			}
			var results map[string]sql.NullString
			if results, err = o.readResults(ctx); err == nil {
				failures = 0
				var waiting []string
				for _, w := range rows {
					if w.st.Status == coordinate.StatusLost {
						continue
					}
					if !final(w.st.Status) || !results[w.st.ID].Valid {
						waiting = append(waiting, w.st.ID)
					}
				}
				if len(waiting) == 0 || ctx.Err() != nil {
					out, derr := o.decode(rows, results)
					var werr error
					if len(waiting) > 0 {
						werr = fmt.Errorf("sqlcoord: collect: no result from %v: %w", waiting, ctx.Err())
					}
					if lost := o.Lost(); lostErr == nil && len(lost) > 0 && o.opts.OnLost == LostAbort {
						// Declared lost before Collect (by CheckLost): the
						// run was aborted all the same.
						lostErr = fmt.Errorf("%w: %v (policy abort: run aborted)", ErrLost, lost)
					}
					return out, errors.Join(werr, lostErr, derr)
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("sqlcoord: collect: %w", ctx.Err())
			}
			if failures++; failures > o.opts.Retries {
				return nil, fmt.Errorf("sqlcoord: collect: reading the workers failed %d times in a row: %w", failures, err)
			}
		}
		timer.Reset(o.opts.Poll)
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
	}
}

func (o *Orchestrator) readResults(ctx context.Context) (map[string]sql.NullString, error) {
	rows, err := o.s.db.QueryContext(ctx, o.s.q.readResults, o.opts.RunID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]sql.NullString{}
	for rows.Next() {
		var id string
		var res sql.NullString
		if err := rows.Scan(&id, &res); err != nil {
			return nil, err
		}
		out[id] = res
	}
	return out, rows.Err()
}

// decode decodes the stored results and records the seen marks.
func (o *Orchestrator) decode(rows []workerRow, results map[string]sql.NullString) ([]*loadtest.Result, error) {
	var out []*loadtest.Result
	var errs []error
	for _, w := range rows {
		if w.seenNS != 0 {
			at := o.rec.Offset(o.local(w.seenNS))
			o.rec.Record(timing.Mark{Phase: loadtest.PhaseSeen, Worker: timing.Process, Start: at, End: at, Node: w.st.ID})
		}
		s := results[w.st.ID]
		if !s.Valid {
			continue
		}
		res, err := loadtest.DecodeResult(strings.NewReader(s.String))
		if err != nil {
			errs = append(errs, fmt.Errorf("sqlcoord: collect: decoding the result of worker %q: %w", w.st.ID, err))
			continue
		}
		out = append(out, res)
	}
	slices.SortFunc(out, func(a, b *loadtest.Result) int { return cmp.Compare(a.Node, b.Node) })
	return out, errors.Join(errs...)
}

// maxSeq returns the highest seq of an event of a known kind in run's
// events, or 0. Rows of other kinds, and seqs that are not integers, are
// passed over: the workers skip them without moving their cursor, so a
// hostile row with a huge seq and a junk kind does not push the
// orchestrator's numbering out of range. (A huge seq with a valid kind
// does: Send then fails with ErrSeqOverflow rather than wrap around.)
func (s *schema) maxSeq(ctx context.Context, run string) (int64, error) {
	rows, err := s.db.QueryContext(ctx, s.q.maxSeq, run)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq looseInt
		if err := rows.Scan(&seq); err != nil {
			return 0, err
		}
		if seq.Valid && seq.Err == nil {
			return max(seq.Int64, 0), nil
		}
	}
	return 0, rows.Err()
}
