package sqlcoord

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// Default option values.
const (
	DefaultPoll         = 100 * time.Millisecond
	DefaultRetries      = 5
	DefaultClockSamples = 7
	DefaultMissedBeats  = 3
	DefaultMaxScale     = 10_000
)

// Options configures the worker side, a Coordinator. Zero values mean the
// defaults given.
type Options struct {
	// Tables says where the tables are. Required: DB and Dialect.
	Tables Tables
	// RunID is the run to join, as the orchestrator created it. Required.
	RunID string
	// Heartbeat is how often a member writes its heartbeat. Default:
	// coordinate.DefaultHeartbeat (one second).
	Heartbeat time.Duration
	// Poll is how often a waiting member reads the run row, and a running
	// one the events table. Default: DefaultPoll. With a Notifier the poll
	// is only the fallback for a notification that went missing.
	Poll time.Duration
	// Jitter, if positive, adds a random 0..Jitter to each poll interval so
	// that many workers do not read in lockstep. Default: Poll/10; negative
	// means none.
	Jitter time.Duration
	// WaitTimeout bounds Member.Wait. Default: coordinate.DefaultWaitTimeout;
	// negative means no bound other than the context.
	WaitTimeout time.Duration
	// Retries is how many consecutive failed reads of the run row Wait
	// tolerates (retrying each after one poll interval) before it gives up
	// with an error naming the phase. Default: DefaultRetries.
	Retries int
	// ClockSamples is how many times Join reads the database clock to
	// measure the offset. Default: DefaultClockSamples.
	ClockSamples int
	// Notifier, if set, wakes waiting members at once (see Notifier).
	Notifier Notifier
	// MaxScale bounds the concurrency a worker accepts from the database:
	// a scale event whose target is not in 1..MaxScale, and a run row whose
	// concurrency is above it (or negative), are logged and ignored, so
	// that a broken or hostile row cannot make a worker start millions of
	// goroutines. Default: DefaultMaxScale.
	MaxScale int
	// Logger receives warnings: failed heartbeats, ignored events. Default:
	// discard.
	Logger *slog.Logger
}

// Coordinator is the worker side of a run kept in SQL tables: it implements
// coordinate.Coordinator, and its members implement coordinate.Member and
// coordinate.Clocked. It is safe for concurrent use; Join may be called by
// many workers, of one process or of many.
type Coordinator struct {
	s       *schema
	opts    Options
	members sync.Map // worker ID -> *member, for the Sink's clock
}

var _ coordinate.Coordinator = (*Coordinator)(nil)

// New validates opts and returns a Coordinator. It does not touch the
// database: Join creates the tables if needed.
func New(opts Options) (*Coordinator, error) {
	s, err := opts.Tables.compile()
	if err != nil {
		return nil, err
	}
	if err := validRunID("Options.RunID", opts.RunID); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Options.Heartbeat", opts.Heartbeat}, {"Options.Poll", opts.Poll}} {
		if d.v < 0 {
			return nil, fmt.Errorf("%w: %s is %s, must not be negative", ErrInvalid, d.name, d.v)
		}
	}
	if opts.Retries < 0 || opts.ClockSamples < 0 {
		return nil, fmt.Errorf("%w: Options.Retries (%d) and Options.ClockSamples (%d) must not be negative", ErrInvalid, opts.Retries, opts.ClockSamples)
	}
	if opts.MaxScale < 0 {
		return nil, fmt.Errorf("%w: Options.MaxScale is %d, must not be negative", ErrInvalid, opts.MaxScale)
	}
	opts.MaxScale = cmp.Or(opts.MaxScale, DefaultMaxScale)
	opts.Heartbeat = cmp.Or(opts.Heartbeat, coordinate.DefaultHeartbeat)
	opts.Poll = cmp.Or(opts.Poll, DefaultPoll)
	if opts.Jitter == 0 {
		opts.Jitter = opts.Poll / 10
	}
	opts.WaitTimeout = cmp.Or(opts.WaitTimeout, coordinate.DefaultWaitTimeout)
	opts.Retries = cmp.Or(opts.Retries, DefaultRetries)
	opts.ClockSamples = cmp.Or(opts.ClockSamples, DefaultClockSamples)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Coordinator{s: s, opts: opts}, nil
}

// runRow is the run as a worker reads it.
type runRow struct {
	status                 string
	concurrency            int64
	badConcurrency         error // the concurrency column is not an integer
	publishedNS, atNS, seq int64
	reason                 string
}

// Run statuses in the runs table.
const (
	runWaiting = "WAITING"
	runStarted = "STARTED"
	runAborted = "ABORTED"
)

// querier is a *sql.DB or a *sql.Conn.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *schema) readRun(ctx context.Context, q querier, run string) (runRow, error) {
	var r runRow
	var reason sql.NullString
	var conc looseInt
	err := q.QueryRowContext(ctx, s.q.readRun, run).Scan(&r.status, &conc, &r.publishedNS, &r.atNS, &r.seq, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: %q", ErrNoRun, run)
	}
	r.reason = reason.String
	r.concurrency, r.badConcurrency = conc.Int64, conc.Err
	return r, err
}

// abortedError describes a run that ended before its start.
func abortedError(r runRow) error {
	if r.reason == "" {
		return fmt.Errorf("%w before start", coordinate.ErrAborted)
	}
	return fmt.Errorf("%w before start: %s", coordinate.ErrAborted, r.reason)
}

// Join measures the clock offset against the database, then adds the
// worker's row (state JOINED) and starts its heartbeat. A worker whose run
// has already started is refused with coordinate.ErrLate: it would start
// unsynchronised. A second worker with the same ID gets
// coordinate.ErrDuplicate (except on Snowflake, which does not enforce
// primary keys).
func (c *Coordinator) Join(ctx context.Context, w coordinate.Worker) (coordinate.Member, error) {
	if w.ID == "" {
		return nil, fmt.Errorf("%w: Worker.ID is empty", ErrInvalid)
	}
	if len(w.ID) > 128 {
		return nil, fmt.Errorf("%w: Worker.ID is %d bytes, more than 128", ErrInvalid, len(w.ID))
	}
	if w.Concurrency < 0 {
		return nil, fmt.Errorf("%w: Worker.Concurrency of worker %q is %d, must not be negative", ErrInvalid, w.ID, w.Concurrency)
	}
	s, run := c.s, c.opts.RunID
	fail := func(err error) (coordinate.Member, error) {
		return nil, fmt.Errorf("sqlcoord: %s: worker %q: %w", timing.CoordRegister, w.ID, err)
	}
	if err := s.create(ctx); err != nil {
		return fail(err)
	}
	r, err := s.readRun(ctx, s.db, run)
	if err != nil {
		return fail(err)
	}
	switch r.status {
	case runWaiting:
	case runAborted:
		return fail(abortedError(r))
	default:
		return fail(fmt.Errorf("%w (run %q is %s)", coordinate.ErrLate, run, r.status))
	}
	offset, bound, err := s.measureClock(ctx, c.opts.ClockSamples)
	if err != nil {
		return fail(err)
	}
	m := &member{
		c: c, id: w.ID, offset: offset, bound: bound,
		phase:  string(timing.CoordRegister),
		status: coordinate.StatusJoined,
		events: make(chan coordinate.Event, 16),
		begin:  make(chan int64, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	now := m.dbNow()
	if _, err := s.db.ExecContext(ctx, s.q.insertWorker, run, w.ID, m.phase, w.Concurrency, now, now, int64(offset), int64(bound)); err != nil {
		var n int
		if s.db.QueryRowContext(ctx, s.q.workerExists, run, w.ID).Scan(&n) == nil && n > 0 {
			return fail(fmt.Errorf("%w: %q", coordinate.ErrDuplicate, w.ID))
		}
		return fail(err)
	}
	if c.opts.Notifier != nil {
		// Subscribe before the first read of the row in Wait, so that no
		// notification falls between the two.
		if m.sub, err = c.opts.Notifier.Subscribe(ctx, s.notifyChannel, run); err != nil {
			c.opts.Logger.Warn("sqlcoord: subscribing failed; polling only", "worker", w.ID, "err", err)
			m.sub = nil
		}
	}
	c.members.Store(w.ID, m)
	go m.run()
	return m, nil
}

// member is a Member of a Coordinator.
type member struct {
	c             *Coordinator
	id            string
	offset, bound time.Duration
	sub           Subscription // nil without a Notifier

	mu     sync.Mutex
	status coordinate.Status
	phase  string
	left   bool

	// rec, if the Runner gave one (MarkOn), receives the PhaseUnreachable
	// marks; recMu guards it.
	recMu sync.Mutex
	rec   *timing.Recorder

	badEvents warnOnce // the skipped event rows already logged

	events chan coordinate.Event // closed by run
	begin  chan int64            // the run's start seq, once Wait returned a signal
	stop   chan struct{}         // closed by Leave
	done   chan struct{}         // closed when run returns
}

var (
	_ coordinate.Member  = (*member)(nil)
	_ coordinate.Clocked = (*member)(nil)
	_ loadtest.Marker    = (*member)(nil)
)

// PhaseUnreachable marks, on a worker's timeline, a time when its
// heartbeats failed: from the first failed heartbeat to the next one that
// succeeded (or to Leave). Its Detail counts the failed attempts; its Err
// is the first error. The run goes on meanwhile: the coordinator's
// database is not the one measured.
const PhaseUnreachable timing.Phase = "coord.unreachable"

// MarkOn makes the member record PhaseUnreachable marks on rec (see
// loadtest.Marker).
func (m *member) MarkOn(rec *timing.Recorder) {
	m.recMu.Lock()
	m.rec = rec
	m.recMu.Unlock()
}

// markUnreachable records a heartbeat gap from start to end.
func (m *member) markUnreachable(start, end time.Time, failed int, err error, detail string) {
	m.recMu.Lock()
	rec := m.rec
	m.recMu.Unlock()
	if rec == nil {
		return
	}
	rec.Record(timing.Mark{Phase: PhaseUnreachable, Worker: timing.Process,
		Start: rec.Offset(start), End: rec.Offset(end),
		Detail: fmt.Sprintf("failed heartbeats=%d%s", failed, detail), Err: err.Error()})
}

// ClockOffset returns how far this host's clock runs ahead of the
// database's, and the bound on that estimate, as measured at Join.
func (m *member) ClockOffset() (offset, bound time.Duration) { return m.offset, m.bound }

// dbNow is now on the database's clock, in Unix nanoseconds.
func (m *member) dbNow() int64 { return time.Now().Add(-m.offset).UnixNano() }

// local converts Unix nanoseconds on the database's clock to this host's clock.
func (m *member) local(ns int64) time.Time { return time.Unix(0, ns).Add(m.offset) }

// interval is one poll interval with jitter.
func (c *Coordinator) interval() time.Duration {
	d := c.opts.Poll
	if c.opts.Jitter > 0 {
		d += rand.N(c.opts.Jitter)
	}
	return d
}

// Wait reports the worker ready (if it was only joined), then reads the run
// row until it says STARTED or ABORTED: at once when the Notifier wakes it,
// else every Poll. Failed reads are retried Retries times, one poll apart;
// the WaitTimeout bounds the whole wait.
func (m *member) Wait(ctx context.Context) (coordinate.Signal, error) {
	c := m.c
	m.mu.Lock()
	left, status := m.left, m.status
	m.mu.Unlock()
	if left {
		return coordinate.Signal{}, fmt.Errorf("%w: worker %q cannot wait", coordinate.ErrLeft, m.id)
	}
	if status == coordinate.StatusJoined {
		if err := m.SetState(ctx, coordinate.State{Status: coordinate.StatusReady, Phase: string(timing.CoordWait)}); err != nil {
			return coordinate.Signal{}, err
		}
	}
	wctx := ctx
	if c.opts.WaitTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, c.opts.WaitTimeout)
		defer cancel()
	}
	var wake <-chan struct{}
	if m.sub != nil {
		wake = m.sub.C()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	// The reads go over one connection held for the whole wait, so that
	// the read after a wake-up never waits to open one: that can cost more
	// than the lead. A failed read gives it back; the next takes another.
	var conn *sql.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	failures := 0
	for {
		var r runRow
		var err error
		if conn == nil {
			conn, err = c.s.db.Conn(wctx)
		}
		if err == nil {
			r, err = c.s.readRun(wctx, conn, c.opts.RunID)
			if err != nil && !errors.Is(err, ErrNoRun) {
				conn.Close()
				conn = nil
			}
		}
		switch {
		case err != nil && wctx.Err() == nil:
			failures++
			c.opts.Logger.Warn("sqlcoord: reading the run row failed", "worker", m.id, "attempt", failures, "err", err)
			if failures > c.opts.Retries {
				return coordinate.Signal{}, fmt.Errorf("sqlcoord: %s: worker %q: reading the run row failed %d times in a row: %w", timing.CoordWait, m.id, failures, err)
			}
		case err != nil: // the wait ended; reported below
		case r.status == runStarted:
			sig := coordinate.Signal{
				At:          m.local(r.atNS),
				Published:   m.local(r.publishedNS),
				Concurrency: m.runConcurrency(r),
				Events:      m.events,
			}
			select { // the heartbeat goroutine records the sighting and reads events
			case m.begin <- r.seq:
			default: // a second Wait: already told
			}
			return sig, nil
		case r.status == runAborted:
			return coordinate.Signal{}, fmt.Errorf("sqlcoord: %s: worker %q: %w", timing.CoordWait, m.id, abortedError(r))
		default:
			failures = 0
		}
		timer.Reset(c.interval())
		select {
		case <-timer.C:
		case <-wake:
		case <-wctx.Done():
			if ctx.Err() != nil {
				return coordinate.Signal{}, fmt.Errorf("sqlcoord: %s: worker %q: %w", timing.CoordWait, m.id, ctx.Err())
			}
			return coordinate.Signal{}, fmt.Errorf("sqlcoord: %s: worker %q waited %s; start not issued: %w", timing.CoordWait, m.id, c.opts.WaitTimeout, coordinate.ErrWaitTimeout)
		}
	}
}

// runConcurrency is the run row's concurrency if it is in 0..MaxScale (0:
// no scale before the start); any other value is logged and ignored.
func (m *member) runConcurrency(r runRow) int {
	switch {
	case r.badConcurrency != nil:
		m.c.opts.Logger.Warn("sqlcoord: ignoring the run row's unreadable concurrency", "worker", m.id, "err", r.badConcurrency)
	case r.concurrency < 0 || r.concurrency > int64(m.c.opts.MaxScale):
		m.c.opts.Logger.Warn("sqlcoord: ignoring the run row's concurrency: not in 0..MaxScale", "worker", m.id, "concurrency", r.concurrency, "max_scale", m.c.opts.MaxScale)
	default:
		return int(r.concurrency)
	}
	return 0
}

// SetState writes the worker's state and phase at once. The first report of
// READY or RUNNING succeeds only while the run still waits for its start: a
// worker ready after the start was not counted, and gets coordinate.ErrLate.
func (m *member) SetState(ctx context.Context, st coordinate.State) error {
	switch st.Status {
	case coordinate.StatusJoined, coordinate.StatusReady, coordinate.StatusRunning, coordinate.StatusDone, coordinate.StatusFailed, coordinate.StatusLost:
	default:
		return fmt.Errorf("%w: State.Status %q is not a known status", ErrInvalid, st.Status)
	}
	c := m.c
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.left {
		return fmt.Errorf("%w: worker %q cannot set state %s", coordinate.ErrLeft, m.id, st.Status)
	}
	now := m.dbNow()
	becomesReady := m.status == coordinate.StatusJoined && (st.Status == coordinate.StatusReady || st.Status == coordinate.StatusRunning)
	if becomesReady {
		res, err := c.s.db.ExecContext(ctx, c.s.q.readyWorker, string(st.Status), st.Phase, now, now, c.opts.RunID, m.id, c.opts.RunID)
		if err != nil {
			return fmt.Errorf("sqlcoord: worker %q: reporting %s: %w", m.id, st.Status, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			r, err := c.s.readRun(ctx, c.s.db, c.opts.RunID)
			switch {
			case err != nil:
				return fmt.Errorf("sqlcoord: worker %q: reporting %s: %w", m.id, st.Status, err)
			case r.status == runAborted:
				return fmt.Errorf("sqlcoord: worker %q: %w", m.id, abortedError(r))
			}
			return fmt.Errorf("%w: worker %q became ready after the start was published", coordinate.ErrLate, m.id)
		}
	} else if _, err := c.s.db.ExecContext(ctx, c.s.q.setState, string(st.Status), st.Phase, now, c.opts.RunID, m.id); err != nil {
		return fmt.Errorf("sqlcoord: worker %q: reporting %s: %w", m.id, st.Status, err)
	}
	m.status, m.phase = st.Status, st.Phase
	return nil
}

// Leave stops the heartbeat goroutine, which closes Events, and writes the
// final state: FAILED with err's text, or DONE.
func (m *member) Leave(ctx context.Context, err error) error {
	m.mu.Lock()
	already := m.left
	m.left = true
	phase := m.phase
	m.mu.Unlock()
	if already {
		<-m.done
		return nil
	}
	close(m.stop)
	<-m.done
	var errs []error
	if m.sub != nil {
		errs = append(errs, m.sub.Close())
	}
	final, text := coordinate.StatusDone, ""
	if err != nil {
		final, text = coordinate.StatusFailed, err.Error()
	}
	c := m.c
	if _, werr := c.s.db.ExecContext(ctx, c.s.q.leave, string(final), phase, m.dbNow(), text, c.opts.RunID, m.id); werr != nil {
		errs = append(errs, fmt.Errorf("sqlcoord: worker %q: recording %s: %w", m.id, final, werr))
	}
	return errors.Join(errs...)
}

// run is the member's goroutine, from Join to Leave: it writes heartbeats,
// records when the worker saw the start, and then reads control events and
// hands them to Events in Seq order. It is the only sender on Events, so it
// closes it.
func (m *member) run() {
	defer close(m.done)
	defer close(m.events)
	c := m.c
	log := c.opts.Logger
	// ctx ends with Leave, so no write outlives the member.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	// Heartbeats go every Heartbeat. A failed one is retried sooner, after
	// a tenth of the period and then twice as long each time up to the
	// period: a blip costs one late beat, an unreachable database is not
	// hammered, and the beats never go slower than usual, which would get
	// the worker declared lost once the database is back. Each attempt is
	// bounded, so that a hung database cannot hold the loop (and the
	// control events behind it) for ever; the bound is generous, because a
	// beat that is merely slow (a busy database, a loaded host) is better
	// finished late than abandoned and sent again.
	beat := time.NewTimer(c.opts.Heartbeat)
	defer beat.Stop()
	beatTimeout := max(5*c.opts.Heartbeat, 5*time.Second)
	var gapStart time.Time // zero while the beats succeed
	var gapErr error
	gapFailed := 0
	firstRetry := max(c.opts.Heartbeat/10, time.Millisecond)
	retryAfter := firstRetry
	defer func() {
		if gapFailed > 0 {
			m.markUnreachable(gapStart, time.Now(), gapFailed, gapErr, " (not recovered)")
		}
	}()
	var poll <-chan time.Time // nil until the start
	var pollTimer *time.Timer
	var wake <-chan struct{}
	started := false
	var lastSeq int64
	var pending []coordinate.Event
	for {
		var out chan<- coordinate.Event
		var next coordinate.Event
		if len(pending) > 0 {
			out, next = m.events, pending[0]
		}
		read := false
		select {
		case <-m.stop:
			if pollTimer != nil {
				pollTimer.Stop()
			}
			return
		case <-beat.C:
			at := time.Now()
			bctx, bcancel := context.WithTimeout(ctx, beatTimeout)
			_, err := c.s.db.ExecContext(bctx, c.s.q.beat, m.dbNow(), c.opts.RunID, m.id)
			bcancel()
			switch {
			case err == nil:
				if gapFailed > 0 {
					m.markUnreachable(gapStart, time.Now(), gapFailed, gapErr, "")
					log.Info("sqlcoord: heartbeats recovered", "worker", m.id, "failed", gapFailed, "after", time.Since(gapStart))
				}
				gapFailed, gapErr = 0, nil
				retryAfter = firstRetry
				// Every Heartbeat from the last beat's start, as a ticker
				// would: a slow write does not stretch the period.
				beat.Reset(max(c.opts.Heartbeat-time.Since(at), 0))
			case ctx.Err() != nil: // leaving
			default:
				if gapFailed == 0 {
					gapStart, gapErr = at, err
				}
				gapFailed++
				log.Warn("sqlcoord: heartbeat failed", "worker", m.id, "attempt", gapFailed, "retry_in", retryAfter, "err", err)
				beat.Reset(retryAfter)
				retryAfter = min(2*retryAfter, c.opts.Heartbeat)
			}
		case seq := <-m.begin:
			started, lastSeq = true, seq
			sctx, scancel := context.WithTimeout(ctx, beatTimeout)
			_, err := c.s.db.ExecContext(sctx, c.s.q.seen, m.dbNow(), c.opts.RunID, m.id)
			scancel()
			if err != nil && ctx.Err() == nil {
				log.Warn("sqlcoord: recording the start sighting failed", "worker", m.id, "err", err)
			}
			pollTimer = time.NewTimer(c.interval())
			poll = pollTimer.C
			if m.sub != nil {
				wake = m.sub.C()
			}
			read = true
		case <-poll:
			read = true
		case <-wake:
			read = true
		case out <- next:
			pending[0] = coordinate.Event{}
			pending = pending[1:]
		}
		if read && started {
			rctx, rcancel := context.WithTimeout(ctx, beatTimeout)
			pending = append(pending, m.readEvents(rctx, &lastSeq)...)
			rcancel()
			pollTimer.Reset(c.interval())
		}
	}
}

// readEvents reads the events after *last, in Seq order, and returns those
// that are valid, advancing *last to the last of them. An invalid row
// (unknown kind, a scale target outside 1..MaxScale, a seq or target that
// is not an integer) is logged once and skipped, never applied, and does
// not move the cursor: a hostile row with a huge seq must not make the
// worker deaf to the events the orchestrator sends below it.
func (m *member) readEvents(ctx context.Context, last *int64) []coordinate.Event {
	c := m.c
	log := c.opts.Logger
	rows, err := c.s.db.QueryContext(ctx, c.s.q.readEvents, c.opts.RunID, *last)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("sqlcoord: reading control events failed", "worker", m.id, "err", err)
		}
		return nil
	}
	defer rows.Close()
	var out []coordinate.Event
	for rows.Next() {
		var rawSeq any
		var kind, reason sql.NullString
		var conc looseInt
		if err := rows.Scan(&rawSeq, &kind, &conc, &reason); err != nil {
			m.skipEvent(badRowKey(rawSeq), "ignoring an unreadable control event", "after_seq", *last, "err", err)
			continue
		}
		var seq looseInt
		_ = seq.Scan(rawSeq)
		switch {
		case seq.Err != nil || !seq.Valid:
			m.skipEvent(badRowKey(rawSeq), "ignoring an unreadable control event", "seq", badRowKey(rawSeq), "err", cmp.Or(seq.Err, errors.New("seq is NULL")))
			continue
		case conc.Err != nil:
			m.skipEvent(badRowKey(rawSeq), "ignoring an unreadable control event", "seq", seq.Int64, "err", fmt.Errorf("concurrency: %w", conc.Err))
			continue
		case seq.Int64 <= *last:
			m.skipEvent(badRowKey(rawSeq), "ignoring a stale control event", "seq", seq.Int64, "last", *last)
			continue
		}
		e := coordinate.Event{Seq: seq.Int64, Kind: coordinate.EventKind(kind.String), Reason: reason.String}
		switch e.Kind {
		case coordinate.EventStop, coordinate.EventAbort:
		case coordinate.EventScale:
			if !conc.Valid || conc.Int64 < 1 || conc.Int64 > int64(c.opts.MaxScale) {
				m.skipEvent(badRowKey(rawSeq), "ignoring a scale event whose target is not in 1..MaxScale", "seq", e.Seq, "target", conc.Int64, "max_scale", c.opts.MaxScale)
				continue
			}
			e.Concurrency = int(conc.Int64)
		default:
			m.skipEvent(badRowKey(rawSeq), "ignoring a control event of unknown kind", "seq", e.Seq, "kind", kind.String)
			continue
		}
		*last = e.Seq
		out = append(out, e)
	}
	if err := rows.Err(); err != nil && ctx.Err() == nil {
		log.Warn("sqlcoord: reading control events failed", "worker", m.id, "err", err)
	}
	return out
}

// skipEvent logs a skipped event row, once per row (key is its seq as
// read): the row stays in the table and is read again on every poll until
// a valid event moves the cursor past it.
func (m *member) skipEvent(key, msg string, args ...any) {
	log, full := m.badEvents.first(key)
	switch {
	case log:
		m.c.opts.Logger.Warn("sqlcoord: "+msg, append([]any{"worker", m.id}, args...)...)
	case full:
		m.c.opts.Logger.Warn("sqlcoord: too many bad control events; no longer logging them", "worker", m.id, "logged", maxWarned)
	}
}
