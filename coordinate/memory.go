package coordinate

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Memory is a Backend that keeps one run in memory, for nodes that are
// goroutines of one process: Local is the kit over it. It is its own
// reference clock (it has no Clock: offsets are zero) and wakes every
// subscription at once (it is a Watcher of every topic). Its methods never
// block and ignore their contexts. It stores what it is given, as a shared
// database would: validating is the kit's job.
type Memory struct {
	mu     sync.Mutex
	run    *RunRecord
	nodes  map[string]NodeRecord
	events []EventRecord // by Seq; records with Bad set at the end
	subs   [3]map[*memorySub]struct{}
}

var (
	_ Backend = (*Memory)(nil)
	_ Watcher = (*Memory)(nil)
)

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	m := &Memory{nodes: map[string]NodeRecord{}}
	for i := range m.subs {
		m.subs[i] = map[*memorySub]struct{}{}
	}
	return m
}

// Name returns "local".
func (*Memory) Name() string { return "local" }

// PutRun implements RunStore.
func (m *Memory) PutRun(_ context.Context, r RunRecord, from RunStatus) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case from == "" && m.run != nil:
		return ErrRunExists
	case from != "" && m.run == nil:
		return ErrNoRun
	case from != "" && m.run.Status != from:
		return fmt.Errorf("%w: the run is %s, not %s", ErrConflict, m.run.Status, from)
	}
	r.Expect = slices.Clone(r.Expect)
	m.run = &r
	m.notifyLocked(TopicRun)
	return nil
}

// Run implements RunStore.
func (m *Memory) Run(context.Context) (RunRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.run == nil {
		return RunRecord{}, ErrNoRun
	}
	r := *m.run
	r.Expect = slices.Clone(r.Expect)
	return r, nil
}

// AddEvent implements RunStore: the Seq is one above the highest Seq of
// an event of a known kind.
func (m *Memory) AddEvent(_ context.Context, e EventRecord) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var top int64
	for _, x := range m.events {
		if x.Bad == nil && knownKind(x.Kind) {
			top = max(top, x.Seq)
		}
	}
	if top == math.MaxInt64 {
		return 0, fmt.Errorf("coordinate: memory: an event already has seq %d, the largest there is", top)
	}
	e.Seq, e.Bad, e.Raw = top+1, nil, ""
	m.insertLocked(e)
	return e.Seq, nil
}

// Inject stores e as it is, with its Seq (and its Bad, for a record "that
// could not be decoded"), as a broken or hostile writer would: for tests
// of the kit's defences (see package coordtest).
func (m *Memory) Inject(e EventRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.insertLocked(e)
}

func (m *Memory) insertLocked(e EventRecord) {
	i, _ := slices.BinarySearchFunc(m.events, e, func(x, y EventRecord) int {
		switch {
		case x.Bad != nil && y.Bad == nil:
			return 1
		case x.Bad == nil && y.Bad != nil:
			return -1
		case x.Seq < y.Seq:
			return -1
		case x.Seq > y.Seq:
			return 1
		}
		return 0
	})
	m.events = slices.Insert(m.events, i, e)
	m.notifyLocked(TopicEvents)
}

func knownKind(k EventKind) bool { return k == EventStop || k == EventAbort || k == EventScale }

// Events implements RunStore. Records with Bad set are returned on every
// read, as a database returns a row it cannot order.
func (m *Memory) Events(_ context.Context, after int64) ([]EventRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []EventRecord
	for _, e := range m.events {
		if e.Bad != nil || e.Seq > after {
			out = append(out, e)
		}
	}
	return out, nil
}

// PutNode implements NodeStore.
func (m *Memory) PutNode(_ context.Context, n NodeRecord, w NodeWrite) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.nodes[n.ID]
	if !ok && w != NodeJoin {
		return fmt.Errorf("coordinate: memory: node %q has no record", n.ID)
	}
	switch w {
	case NodeJoin:
		if m.run == nil {
			return ErrNoRun
		}
		if ok {
			return fmt.Errorf("%w: %q", ErrDuplicate, n.ID)
		}
		cur = n
	case NodeReady:
		if m.run == nil || m.run.Status != RunWaiting {
			return fmt.Errorf("%w: the run is no longer waiting", ErrConflict)
		}
		cur.Status, cur.Phase, cur.Ready, cur.Beat = n.Status, n.Phase, n.Ready, n.Beat
	case NodeState:
		cur.Status, cur.Phase, cur.Ready, cur.Seen, cur.Beat, cur.Err = n.Status, n.Phase, n.Ready, n.Seen, n.Beat, n.Err
	case NodeBeat:
		cur.Beat = n.Beat
		m.nodes[n.ID] = cur
		return nil // a beat changes nothing anyone waits for
	case NodeLost:
		if cur.Status.final() {
			return fmt.Errorf("%w: node %q is %s", ErrConflict, n.ID, cur.Status)
		}
		cur.Status = StatusLost
	default:
		return fmt.Errorf("%w: NodeWrite %d", ErrInvalid, w)
	}
	m.nodes[n.ID] = cur
	m.notifyLocked(TopicNodes)
	return nil
}

// Nodes implements NodeStore.
func (m *Memory) Nodes(context.Context) ([]NodeRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]NodeRecord, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, n)
	}
	return out, nil
}

// Watch implements Watcher, for every topic.
func (m *Memory) Watch(_ context.Context, topic Topic) (Subscription, error) {
	if topic < TopicRun || topic > TopicNodes {
		return nil, fmt.Errorf("%w: topic %d", ErrInvalid, topic)
	}
	s := &memorySub{m: m, topic: topic, c: make(chan struct{}, 1)}
	m.mu.Lock()
	m.subs[topic][s] = struct{}{}
	m.mu.Unlock()
	return s, nil
}

// notifyLocked wakes every subscription to topic. m.mu is held.
func (m *Memory) notifyLocked(topic Topic) {
	for s := range m.subs[topic] {
		select {
		case s.c <- struct{}{}:
		default: // a wake is already pending
		}
	}
}

// memorySub is a Subscription of a Memory.
type memorySub struct {
	m     *Memory
	topic Topic
	c     chan struct{}
}

func (s *memorySub) C() <-chan struct{} { return s.c }

func (s *memorySub) Close() error {
	s.m.mu.Lock()
	delete(s.m.subs[s.topic], s)
	s.m.mu.Unlock()
	return nil
}
