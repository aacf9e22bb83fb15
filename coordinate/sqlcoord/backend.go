package sqlcoord

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/unixns"
)

// Options configures a Backend.
type Options struct {
	// Tables says where the tables are. Required: DB and Dialect.
	Tables Tables
	// RunID is the run this backend serves. Required; see
	// coordinate.ValidRunID.
	RunID string
	// Notifier, if set, wakes waiting members at once when the run's row
	// or its events change (see Notifier; package pgnotify), and names the
	// backend.
	Notifier Notifier
	// Logger receives the warnings of this package (a notification that
	// could not be sent). Default: discard. The kit's warnings go to
	// coordinate.Options.Logger.
	Logger *slog.Logger
}

// Backend is a coordinate.Backend over three tables of any database/sql
// database, polled by the kit, with a Notifier as an optional wake-up. It
// is also a coordinate.Clock (the database's clock) and a
// coordinate.Watcher (through the Notifier; without one it watches
// nothing, and the kit polls). It is safe for concurrent use, by the
// members of one process and the orchestrator at once.
type Backend struct {
	s        *schema
	run      string
	notifier Notifier
	log      *slog.Logger
	shared   shared // the Notifier's subscription, shared by every Watch
}

var (
	_ coordinate.Backend = (*Backend)(nil)
	_ coordinate.Clock   = (*Backend)(nil)
	_ coordinate.Watcher = (*Backend)(nil)
)

// New validates opts and returns a Backend. It does not touch the
// database: the first call that does creates the tables if needed.
func New(opts Options) (*Backend, error) {
	s, err := opts.Tables.compile()
	if err != nil {
		return nil, err
	}
	if err := coordinate.ValidRunID(opts.RunID); err != nil {
		return nil, fmt.Errorf("%w: Options.RunID: %v", ErrInvalid, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Backend{s: s, run: opts.RunID, notifier: opts.Notifier, log: log}, nil
}

// Name returns "sql", or the Notifier's name ("pgnotify").
func (b *Backend) Name() string {
	if b.notifier != nil {
		return b.notifier.Name()
	}
	return "sql"
}

// nullText is NULL for "".
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// notify tells the Notifier's subscribers that the run's row or its events
// changed. A notification that cannot be sent costs them a poll interval.
func (b *Backend) notify(ctx context.Context) {
	if b.notifier == nil {
		return
	}
	if err := b.notifier.Notify(ctx, b.s.notifyChannel, b.run); err != nil {
		b.log.Warn("sqlcoord: notifying the members failed; they will poll", "run", b.run, "err", err)
	}
}

// PutRun implements coordinate.RunStore. A replacement that changes no
// value is not a conflict (MySQL counts only the rows an UPDATE changed).
func (b *Backend) PutRun(ctx context.Context, r coordinate.RunRecord, from coordinate.RunStatus) error {
	s := b.s
	if err := s.create(ctx); err != nil {
		return err
	}
	var expect any
	if len(r.Expect) > 0 {
		data, _ := json.Marshal(r.Expect) // strings: cannot fail
		expect = string(data)
	}
	if from == "" {
		_, err := s.db.ExecContext(ctx, s.q.insertRun, b.run, string(r.Status), r.Want, expect, r.Concurrency,
			unixns.Of(r.Created), unixns.Of(r.Published), unixns.Of(r.At), r.StartSeq, nullText(r.Reason))
		if err != nil {
			if _, rerr := b.status(ctx); rerr == nil {
				return fmt.Errorf("%w: %q", coordinate.ErrRunExists, b.run)
			}
			return fmt.Errorf("sqlcoord: creating run %q: %w", b.run, err)
		}
		return nil
	}
	res, err := s.db.ExecContext(ctx, s.q.putRun, string(r.Status), r.Want, expect, r.Concurrency,
		unixns.Of(r.Published), unixns.Of(r.At), r.StartSeq, nullText(r.Reason), b.run, string(from))
	if err != nil {
		return fmt.Errorf("sqlcoord: writing run %q: %w", b.run, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		st, err := b.status(ctx)
		switch {
		case err != nil:
			return fmt.Errorf("sqlcoord: writing run %q: %w", b.run, err)
		case st != from:
			return fmt.Errorf("%w: run %q is %s, not %s", coordinate.ErrConflict, b.run, st, from)
		}
	}
	b.notify(ctx)
	return nil
}

// status reads the run's status.
func (b *Backend) status(ctx context.Context) (coordinate.RunStatus, error) {
	var st string
	err := b.s.db.QueryRowContext(ctx, b.s.q.runStatus, b.run).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: %q", coordinate.ErrNoRun, b.run)
	}
	return coordinate.RunStatus(st), err
}

// Run implements coordinate.RunStore. Columns the kit can do without
// (expected, expect, concurrency) are read loosely: a value that is not
// what it should be sets Bad, not an error.
func (b *Backend) Run(ctx context.Context) (coordinate.RunRecord, error) {
	s := b.s
	if err := s.create(ctx); err != nil {
		return coordinate.RunRecord{}, err
	}
	var r coordinate.RunRecord
	var status string
	var want, conc looseInt
	var expect, reason sql.NullString
	var created, published, at int64
	err := s.db.QueryRowContext(ctx, s.q.readRun, b.run).Scan(&status, &want, &expect, &conc, &created, &published, &at, &r.StartSeq, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: %q", coordinate.ErrNoRun, b.run)
	}
	if err != nil {
		return r, fmt.Errorf("sqlcoord: reading run %q: %w", b.run, err)
	}
	r.Status, r.Reason = coordinate.RunStatus(status), reason.String
	r.Created, r.Published, r.At = unixns.Time(created), unixns.Time(published), unixns.Time(at)
	var bad []error
	if want.Err == nil && want.Int64 >= 0 && want.Int64 <= math.MaxInt32 {
		r.Want = int(want.Int64)
	} else {
		bad = append(bad, fmt.Errorf("expected: %w", cmp.Or(want.Err, fmt.Errorf("%d is out of range", want.Int64))))
	}
	if conc.Err == nil {
		r.Concurrency = conc.Int64
	} else {
		bad = append(bad, fmt.Errorf("concurrency: %w", conc.Err))
	}
	if expect.Valid && expect.String != "" {
		if err := json.Unmarshal([]byte(expect.String), &r.Expect); err != nil {
			r.Expect = nil
			bad = append(bad, fmt.Errorf("expect: not a JSON list of IDs: %w", err))
		}
	}
	r.Bad = errors.Join(bad...)
	return r, nil
}

// AddEvent implements coordinate.RunStore: the seq is one above the
// highest seq of an event of a known kind in the table (see maxSeq). If
// that is the largest an int64 holds, it fails with ErrSeqOverflow.
func (b *Backend) AddEvent(ctx context.Context, e coordinate.EventRecord) (int64, error) {
	s := b.s
	if err := s.create(ctx); err != nil {
		return 0, err
	}
	top, err := b.maxSeq(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlcoord: reading the last seq of run %q: %w", b.run, err)
	}
	if top == math.MaxInt64 {
		return 0, fmt.Errorf("%w: the events table of run %q already holds seq %d, the largest there is", ErrSeqOverflow, b.run, top)
	}
	seq := top + 1
	if _, err := s.db.ExecContext(ctx, s.q.insertEvent, b.run, seq, string(e.Kind), e.Concurrency, nullText(e.Reason), unixns.Of(e.Created)); err != nil {
		return 0, fmt.Errorf("sqlcoord: inserting event %d of run %q: %w", seq, b.run, err)
	}
	b.notify(ctx)
	return seq, nil
}

// maxSeq returns the highest seq of an event of a known kind in the run's
// events, or 0. Rows of other kinds, and seqs that are not integers, are
// passed over: the members skip them without moving their cursor, so a
// hostile row with a huge seq and a junk kind does not push the numbering
// out of range. (A huge seq with a valid kind does: AddEvent then fails
// with ErrSeqOverflow rather than wrap around.)
func (b *Backend) maxSeq(ctx context.Context) (int64, error) {
	rows, err := b.s.db.QueryContext(ctx, b.s.q.maxSeq, b.run)
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

// Events implements coordinate.RunStore. A row whose seq or target is not
// an integer (SQLite lets any column hold anything) is returned with Bad
// set and Raw naming its seq as stored.
func (b *Backend) Events(ctx context.Context, after int64) ([]coordinate.EventRecord, error) {
	s := b.s
	if err := s.create(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q.readEvents, b.run, after)
	if err != nil {
		return nil, fmt.Errorf("sqlcoord: reading the events of run %q: %w", b.run, err)
	}
	defer rows.Close()
	var out []coordinate.EventRecord
	for rows.Next() {
		var rawSeq any
		var kind, reason sql.NullString
		var conc looseInt
		if err := rows.Scan(&rawSeq, &kind, &conc, &reason); err != nil {
			out = append(out, coordinate.EventRecord{Raw: rawKey(rawSeq), Bad: err})
			continue
		}
		var seq looseInt
		_ = seq.Scan(rawSeq)
		e := coordinate.EventRecord{Seq: seq.Int64, Kind: coordinate.EventKind(kind.String), Concurrency: conc.Int64, Reason: reason.String}
		switch {
		case seq.Err != nil || !seq.Valid:
			e.Raw, e.Bad = rawKey(rawSeq), cmp.Or(seq.Err, errors.New("seq is NULL"))
		case conc.Err != nil:
			e.Bad = fmt.Errorf("concurrency: %w", conc.Err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("sqlcoord: reading the events of run %q: %w", b.run, err)
	}
	return out, nil
}

// PutNode implements coordinate.NodeStore.
func (b *Backend) PutNode(ctx context.Context, n coordinate.NodeRecord, w coordinate.NodeWrite) error {
	s := b.s
	if err := s.create(ctx); err != nil {
		return err
	}
	fail := func(err error) error {
		return fmt.Errorf("sqlcoord: node %q of run %q: %w", n.ID, b.run, err)
	}
	var errText any
	if n.Err != nil {
		errText = n.Err.Error()
	}
	switch w {
	case coordinate.NodeJoin:
		_, err := s.db.ExecContext(ctx, s.q.insertNode, b.run, n.ID, string(n.Status), n.Phase, n.Concurrency,
			unixns.Of(n.Joined), unixns.Of(n.Beat), int64(n.ClockOffset), int64(n.ClockError))
		if err != nil {
			var count int
			if s.db.QueryRowContext(ctx, s.q.nodeExists, b.run, n.ID).Scan(&count) == nil && count > 0 {
				return fmt.Errorf("%w: %q", coordinate.ErrDuplicate, n.ID)
			}
			return fail(err)
		}
		return nil
	case coordinate.NodeReady:
		res, err := s.db.ExecContext(ctx, s.q.readyNode, string(n.Status), n.Phase, unixns.Of(n.Ready), unixns.Of(n.Beat), b.run, n.ID, b.run)
		if err != nil {
			return fail(err)
		}
		if c, err := res.RowsAffected(); err == nil && c == 0 {
			return fmt.Errorf("%w: run %q no longer waits", coordinate.ErrConflict, b.run)
		}
		return nil
	case coordinate.NodeState:
		_, err := s.db.ExecContext(ctx, s.q.stateNode, string(n.Status), n.Phase, unixns.Of(n.Ready), unixns.Of(n.Seen), unixns.Of(n.Beat), errText, b.run, n.ID)
		if err != nil {
			return fail(err)
		}
		return nil
	case coordinate.NodeBeat:
		if _, err := s.db.ExecContext(ctx, s.q.beatNode, unixns.Of(n.Beat), b.run, n.ID); err != nil {
			return fail(err)
		}
		return nil
	case coordinate.NodeLost:
		res, err := s.db.ExecContext(ctx, s.q.lostNode, b.run, n.ID)
		if err != nil {
			return fail(err)
		}
		if c, err := res.RowsAffected(); err == nil && c == 0 {
			return fmt.Errorf("%w: node %q has left", coordinate.ErrConflict, n.ID)
		}
		return nil
	}
	return fmt.Errorf("%w: NodeWrite %d", ErrInvalid, w)
}

// Nodes implements coordinate.NodeStore. A row whose integer columns hold
// something else (SQLite's loose typing, a hostile writer) is returned
// with Bad set, naming the column: one bad row must not blind the
// orchestrator to the others.
func (b *Backend) Nodes(ctx context.Context) ([]coordinate.NodeRecord, error) {
	s := b.s
	if err := s.create(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q.readNodes, b.run)
	if err != nil {
		return nil, fmt.Errorf("sqlcoord: reading the nodes of run %q: %w", b.run, err)
	}
	defer rows.Close()
	var out []coordinate.NodeRecord
	for rows.Next() {
		var id, state, phase, errText sql.NullString
		var conc, joined, ready, beat, seen, offset, bound looseInt
		if err := rows.Scan(&id, &state, &phase, &conc, &joined, &ready, &beat, &seen, &offset, &bound, &errText); err != nil {
			out = append(out, coordinate.NodeRecord{ID: id.String, Bad: err})
			continue
		}
		n := coordinate.NodeRecord{
			ID: id.String, Status: coordinate.Status(state.String), Phase: phase.String, Concurrency: int(conc.Int64),
			Joined: unixns.Time(joined.Int64), Ready: unixns.Time(ready.Int64), Beat: unixns.Time(beat.Int64), Seen: unixns.Time(seen.Int64),
			ClockOffset: time.Duration(offset.Int64), ClockError: time.Duration(bound.Int64),
		}
		n.Bad = errors.Join(named("concurrency", conc), named("joined_ns", joined), named("ready_ns", ready),
			named("beat_ns", beat), named("seen_ns", seen), named("clock_offset_ns", offset), named("clock_error_ns", bound))
		if errText.Valid && errText.String != "" {
			n.Err = errors.New(errText.String)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("sqlcoord: reading the nodes of run %q: %w", b.run, err)
	}
	return out, nil
}

// named says which column of a row is not an integer, if any.
func named(col string, v looseInt) error {
	if v.Err != nil {
		return fmt.Errorf("%s: %w", col, v.Err)
	}
	return nil
}

// ReadClock implements coordinate.Clock: the database's clock, with its
// resolution (1 ms on SQLite, whose clock on one host is the local clock
// anyway).
func (b *Backend) ReadClock(ctx context.Context) (time.Time, time.Duration, error) {
	var micros int64
	if err := b.s.db.QueryRowContext(ctx, `SELECT `+b.s.clockExpr).Scan(&micros); err != nil {
		return time.Time{}, 0, fmt.Errorf("sqlcoord: reading the database clock: %w", err)
	}
	return time.UnixMicro(micros), b.s.clockRes, nil
}

// Watch implements coordinate.Watcher through the Notifier, for the run's
// row and its events (one channel serves both: a wake-up carries no data).
// Every Watch of one Backend shares one subscription of the Notifier (for
// pgnotify, one listening connection per process, however many members
// it runs), opened by the first and closed with the last. Without a
// Notifier, and for the nodes, it watches nothing: the kit polls.
func (b *Backend) Watch(ctx context.Context, topic coordinate.Topic) (coordinate.Subscription, error) {
	if b.notifier == nil || topic == coordinate.TopicNodes {
		return nil, nil
	}
	sh := &b.shared
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.sub == nil {
		sub, err := b.notifier.Subscribe(ctx, b.s.notifyChannel, b.run)
		if err != nil {
			return nil, err
		}
		sh.sub, sh.stop, sh.done = sub, make(chan struct{}), make(chan struct{})
		sh.subs = map[*watch]struct{}{}
		go sh.forward(sub.C(), sh.stop, sh.done)
	}
	w := &watch{sh: sh, c: make(chan struct{}, 1)}
	sh.subs[w] = struct{}{}
	return w, nil
}

// shared is the one Notifier subscription of a Backend and its watches.
type shared struct {
	mu   sync.Mutex
	sub  coordinate.Subscription // nil while nobody watches
	subs map[*watch]struct{}
	stop chan struct{} // closed by the last watch's Close
	done chan struct{} // closed when forward returns
}

// forward wakes every watch at each wake-up of the subscription.
func (sh *shared) forward(src <-chan struct{}, stop, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case <-src:
			sh.mu.Lock()
			for w := range sh.subs {
				select {
				case w.c <- struct{}{}:
				default: // a wake is already pending
				}
			}
			sh.mu.Unlock()
		}
	}
}

// watch is one Watch of a Backend.
type watch struct {
	sh   *shared
	c    chan struct{}
	once sync.Once
	err  error
}

func (w *watch) C() <-chan struct{} { return w.c }

// Close ends the watch; the last one closes the shared subscription and
// waits for its forwarding goroutine.
func (w *watch) Close() error {
	w.once.Do(func() {
		sh := w.sh
		sh.mu.Lock()
		delete(sh.subs, w)
		if len(sh.subs) > 0 {
			sh.mu.Unlock()
			return
		}
		sub, stop, done := sh.sub, sh.stop, sh.done
		sh.sub = nil
		sh.mu.Unlock()
		close(stop)
		<-done
		w.err = sub.Close()
	})
	return w.err
}
