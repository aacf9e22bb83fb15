package coordtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/startline/startline/coordinate"
)

// Harness is one fresh run of a backend under test. Every backend value
// that one Harness returns serves the same run, which no orchestrator has
// created yet: the suite creates it with coordinate.NewRun over the first
// Orchestrator backend.
type Harness struct {
	// Orchestrator returns the backend the orchestrator uses.
	Orchestrator func(t *testing.T) coordinate.Backend
	// Member returns a backend for one node: the suite calls it once per
	// node, so that a backend whose nodes are processes (each with its own
	// connection) can give each its own. It may return the same value
	// every time.
	Member func(t *testing.T) coordinate.Backend
	// Inject writes hostile record h into the run's storage behind the
	// backend's back, as a broken tool or a hostile writer would, and
	// reports whether it could: false when the storage cannot hold such a
	// value (a typed column, a size limit). An event goes at a Seq above
	// every event the storage holds (HugeSeq: the largest there is). Nil
	// means the storage cannot be written behind the backend's back; the
	// suite then checks what it can through the Backend itself.
	Inject func(t *testing.T, h Hostile) bool
	// Options, if set, changes the kit options the suite runs with (after
	// the suite's own, which keep every interval short). A backend that
	// wakes its readers (a Watcher) can make the polls rare, so that the
	// suite passes on its wake-ups.
	Options func(*coordinate.Options)
}

// Hostile names a record that a conforming kit must ignore, with a warning
// logged once however often it is read again.
type Hostile int

// The hostile records the suite asks a Harness to inject.
const (
	// UnknownKind is an event of kind "explode'; DROP TABLE x; --".
	UnknownKind Hostile = iota
	// HugeSeq is an event of unknown kind "deafen" whose Seq is
	// math.MaxInt64: it must not move a member's cursor, or the member
	// would be deaf to every event the orchestrator sends after it.
	HugeSeq
	// NoTarget is a scale event without a target (NULL, or missing).
	NoTarget
	// BeyondMaxScale is a scale event to 1,000,000 (the suite's MaxScale
	// is 100).
	BeyondMaxScale
	// OversizedReason is a stop event whose reason is 4 MiB.
	OversizedReason
	// TextSeq is a stop event whose Seq is the text "not-a-seq".
	TextSeq
	// TextTarget is a scale event whose target is the text "many".
	TextTarget
	// BadNode is a node record, ID "bad-node", whose numbers (its
	// concurrency and times) are text.
	BadNode
)

var hostileNames = [...]string{"UnknownKind", "HugeSeq", "NoTarget", "BeyondMaxScale", "OversizedReason", "TextSeq", "TextTarget", "BadNode"}

// String names h.
func (h Hostile) String() string {
	if h >= 0 && int(h) < len(hostileNames) {
		return hostileNames[h]
	}
	return fmt.Sprintf("Hostile(%d)", int(h))
}

// Run runs the suite: each test as a subtest, each with a fresh Harness
// from newHarness.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(newEnv(t, newHarness(t))) })
	}
}

// guard bounds every wait of the suite: long enough that only a hang
// reaches it, on any machine.
const guard = 30 * time.Second

// env is one test's harness, options and log.
type env struct {
	t    *testing.T
	h    Harness
	opts coordinate.Options
	logs *logBuffer
}

func newEnv(t *testing.T, h Harness) *env {
	if h.Orchestrator == nil || h.Member == nil {
		t.Fatal("coordtest: the Harness needs Orchestrator and Member")
	}
	logs := new(logBuffer)
	e := &env{t: t, h: h, logs: logs, opts: coordinate.Options{
		Heartbeat: 20 * time.Millisecond,
		Poll:      5 * time.Millisecond,
		// Generous: a live node on a loaded machine is never declared
		// lost (CI saw every node of a test silent for a second, at load
		// average 15); the tests of lost nodes kill theirs.
		MissedBeats: 250,
		WaitTimeout: guard,
		MaxScale:    100,
		Logger:      slog.New(slog.NewTextHandler(logs, nil)),
	}}
	if h.Options != nil {
		h.Options(&e.opts)
	}
	return e
}

// with returns a copy of e with opts changed by f.
func (e *env) with(f func(*coordinate.Options)) *env {
	c := *e
	f(&c.opts)
	return &c
}

// run creates the run.
func (e *env) run() *coordinate.Run {
	e.t.Helper()
	o, err := coordinate.NewRun(context.Background(), e.h.Orchestrator(e.t), e.opts)
	if err != nil {
		e.t.Fatalf("NewRun: %v", err)
	}
	return o
}

// client returns a Client over a fresh member backend.
func (e *env) client() *coordinate.Client {
	e.t.Helper()
	return e.clientOver(e.h.Member(e.t))
}

func (e *env) clientOver(b coordinate.Backend) *coordinate.Client {
	e.t.Helper()
	c, err := coordinate.NewClient(b, e.opts)
	if err != nil {
		e.t.Fatalf("NewClient: %v", err)
	}
	return c
}

// join joins node id through a client of its own, and leaves it when the
// test ends.
func (e *env) join(id string) coordinate.Member {
	e.t.Helper()
	return e.joinWith(e.client(), id)
}

func (e *env) joinWith(c coordinate.Coordinator, id string) coordinate.Member {
	e.t.Helper()
	m, err := c.Join(context.Background(), coordinate.Node{ID: id, Concurrency: 2})
	if err != nil {
		e.t.Fatalf("Join %q: %v", id, err)
	}
	e.t.Cleanup(func() { _ = m.Leave(context.Background(), nil) })
	return m
}

// joinN joins nodes n00, n01, ...
func (e *env) joinN(n int) []coordinate.Member {
	e.t.Helper()
	ms := make([]coordinate.Member, n)
	for i := range ms {
		ms[i] = e.join(nodeID(i))
	}
	return ms
}

func nodeID(i int) string { return fmt.Sprintf("n%02d", i) }

// ready reports each member ready.
func (e *env) ready(ms ...coordinate.Member) {
	e.t.Helper()
	for _, m := range ms {
		if err := m.SetState(context.Background(), coordinate.State{Status: coordinate.StatusReady, Phase: "coord.wait"}); err != nil {
			e.t.Fatalf("SetState READY: %v", err)
		}
	}
}

// waited is the outcome of one member's Wait (and SleepUntil).
type waited struct {
	sig   coordinate.Signal
	err   error
	woke  time.Time // when Wait returned
	began time.Time // when SleepUntil(At) returned
}

// waitAll calls Wait and then SleepUntil on every member, each in a
// goroutine; the channel yields the outcomes by index once all are done.
func waitAll(ms []coordinate.Member) <-chan []waited {
	out := make([]waited, len(ms))
	done := make(chan []waited, 1)
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			w := &out[i]
			w.sig, w.err = m.Wait(context.Background())
			w.woke = time.Now()
			if w.err == nil {
				_ = coordinate.SleepUntil(context.Background(), w.sig.At)
				w.began = time.Now()
			}
		})
	}
	go func() { wg.Wait(); done <- out }()
	return done
}

// recv receives from ch, failing the test after guard.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("no %s after %s", what, guard)
		panic("unreachable")
	}
}

// event receives the next control event of sig, failing the test after
// guard or if Events is closed.
func event(t *testing.T, sig coordinate.Signal) coordinate.Event {
	t.Helper()
	select {
	case ev, ok := <-sig.Events:
		if !ok {
			t.Fatal("Events closed before the expected event")
		}
		return ev
	case <-time.After(guard):
		t.Fatalf("no control event after %s", guard)
		panic("unreachable")
	}
}

// eventually polls cond every few milliseconds until it holds, failing the
// test after guard.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(guard); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %s", what, guard)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// must fails the test on err.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails the test unless err matches target and its text holds
// every one of contains.
func wantErr(t *testing.T, err, target error, contains ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v: want one matching %v", err, target)
	}
	for _, s := range contains {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

// ids returns the IDs of ss.
func ids(ss []coordinate.NodeStatus) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func equal(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}

func abs(d time.Duration) time.Duration { return max(d, -d) }

// bounds is the sum of the clock bounds of the orchestrator and a member:
// how far apart their readings of one instant may be.
func bounds(o coordinate.Clocked, m coordinate.Member) time.Duration {
	_, ob := o.ClockOffset()
	var mb time.Duration
	if c, ok := m.(coordinate.Clocked); ok {
		_, mb = c.ClockOffset()
	}
	return ob + mb
}

// logBuffer collects the kit's log, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count counts the log lines holding every one of subs.
func (b *logBuffer) count(subs ...string) int {
	n := 0
	for _, line := range strings.Split(b.String(), "\n") {
		all := line != ""
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

// mortal wraps a member's backend so that the test can kill the node: from
// then on every write of the member is dropped (and reported done), as if
// its process had died, while the orchestrator still sees what it wrote
// before. It keeps the backend's capabilities: a backend without a Clock
// shares this process's clock, which is what reading the local clock here
// measures.
type mortal struct {
	coordinate.Backend
	dead atomic.Bool
}

func (m *mortal) kill() { m.dead.Store(true) }

func (m *mortal) PutNode(ctx context.Context, n coordinate.NodeRecord, w coordinate.NodeWrite) error {
	if m.dead.Load() {
		return nil
	}
	return m.Backend.PutNode(ctx, n, w)
}

func (m *mortal) ReadClock(ctx context.Context) (time.Time, time.Duration, error) {
	if c, ok := m.Backend.(coordinate.Clock); ok {
		return c.ReadClock(ctx)
	}
	return time.Now(), 0, nil
}

func (m *mortal) Watch(ctx context.Context, topic coordinate.Topic) (coordinate.Subscription, error) {
	if w, ok := m.Backend.(coordinate.Watcher); ok {
		return w.Watch(ctx, topic)
	}
	return nil, nil
}

// stalling wraps a member's backend so that, once it has returned a
// started run, every later read of the run hangs until its context ends:
// a backend that stops answering in the lead before T.
type stalling struct {
	mortal
	stalled atomic.Bool
}

func (s *stalling) Run(ctx context.Context) (coordinate.RunRecord, error) {
	if s.stalled.Load() {
		<-ctx.Done()
		return coordinate.RunRecord{}, ctx.Err()
	}
	r, err := s.mortal.Backend.Run(ctx)
	if err == nil && r.Status == coordinate.RunStarted {
		s.stalled.Store(true)
	}
	return r, err
}

// Watch passes the run's record that a wake-up carries on as Run does: a
// started one makes every later read hang.
func (s *stalling) Watch(ctx context.Context, topic coordinate.Topic) (coordinate.Subscription, error) {
	sub, err := s.mortal.Watch(ctx, topic)
	if rc, ok := sub.(coordinate.RunCarrier); ok {
		return stallingSub{Subscription: sub, rc: rc, s: s}, err
	}
	return sub, err
}

// stallingSub is a RunCarrier of a stalling backend.
type stallingSub struct {
	coordinate.Subscription
	rc coordinate.RunCarrier
	s  *stalling
}

func (w stallingSub) Run() (coordinate.RunRecord, bool) {
	if w.s.stalled.Load() {
		return coordinate.RunRecord{}, false
	}
	r, ok := w.rc.Run()
	if ok && r.Status == coordinate.RunStarted {
		w.s.stalled.Store(true)
	}
	return r, ok
}

// victim joins node id through a backend the test can kill.
func (e *env) victim(id string) (coordinate.Member, *mortal) {
	e.t.Helper()
	b := &mortal{Backend: e.h.Member(e.t)}
	return e.joinWith(e.clientOver(b), id), b
}

// kitFrame matches a stack frame of package coordinate or of a backend
// below it, not of a test package nor of this suite.
var kitFrame = regexp.MustCompile(`^github\.com/startline/startline/coordinate((?:/[A-Za-z0-9_]+)*)\.`)

// kitGoroutines returns the stacks of the goroutines, other than this
// one, running code of the kit or of a backend.
func kitGoroutines() []string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	stacks := strings.Split(string(buf), "\n\n")
	for _, g := range stacks[1:] { // the first is this goroutine
		for _, line := range strings.Split(g, "\n") {
			sub := kitFrame.FindStringSubmatch(line)
			if sub == nil || strings.HasSuffix(sub[1], "_test") || strings.HasSuffix(sub[1], "/coordtest") {
				continue
			}
			out = append(out, g)
			break
		}
	}
	return out
}
