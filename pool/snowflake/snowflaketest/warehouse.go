package snowflaketest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults of the warehouse model, as Snowflake documents them.
const (
	// DefaultMaxConcurrency is MAX_CONCURRENCY_LEVEL's default.
	DefaultMaxConcurrency = 8
	// DefaultAutoSuspend is AUTO_SUSPEND's default for CREATE WAREHOUSE.
	DefaultAutoSuspend = 600 * time.Second
	// DefaultScaleOutInterval is how long the standard scaling policy waits
	// after starting a cluster before it starts another.
	DefaultScaleOutInterval = 20 * time.Second
	// DefaultScaleInIdle is how long an extra cluster stays idle before the
	// standard policy shuts it down (2 to 3 checks at 1-minute intervals).
	DefaultScaleInIdle = 2 * time.Minute
	// DefaultWarehouseSize is the size that warehouses report: XSMALL,
	// CREATE WAREHOUSE's default size.
	DefaultWarehouseSize = "X-Small"
	// DefaultWarehouse is the warehouse of sessions that name none: the
	// name of a new account's first warehouse, not a Snowflake default.
	DefaultWarehouse = "COMPUTE_WH"
)

// NoAutoSuspend, as WarehouseOptions.AutoSuspend, keeps warehouses running
// however long they are idle (AUTO_SUSPEND = 0 or NULL).
const NoAutoSuspend time.Duration = -1

// WarehouseOptions configure every warehouse the server creates, on first
// use or by CREATE WAREHOUSE; CREATE and ALTER WAREHOUSE ... SET change them
// per warehouse. The zero value is Snowflake's defaults for an X-Small
// single-cluster warehouse. Durations may be shorter than the whole seconds
// that SQL sets, so that tests stay short.
type WarehouseOptions struct {
	// Size is WAREHOUSE_SIZE as QUERY_HISTORY reports it; default
	// DefaultWarehouseSize. The model gives a larger warehouse neither
	// more slots nor faster queries.
	Size string
	// MaxConcurrency is MAX_CONCURRENCY_LEVEL: the queries one cluster
	// runs at once; default DefaultMaxConcurrency.
	MaxConcurrency int
	// QueuedTimeout is STATEMENT_QUEUED_TIMEOUT_IN_SECONDS: how long a
	// statement may wait for the warehouse before it fails; zero waits for
	// ever.
	QueuedTimeout time.Duration
	// StatementTimeout is the warehouse's STATEMENT_TIMEOUT_IN_SECONDS;
	// zero sets none.
	StatementTimeout time.Duration
	// AutoSuspend is AUTO_SUSPEND: how long the warehouse stays running
	// without a statement; zero means DefaultAutoSuspend, NoAutoSuspend
	// never suspends it.
	AutoSuspend time.Duration
	// NoAutoResume sets AUTO_RESUME = FALSE: a statement on a suspended
	// warehouse fails instead of resuming it.
	NoAutoResume bool
	// MinClusters and MaxClusters are MIN_CLUSTER_COUNT and
	// MAX_CLUSTER_COUNT; zero means 1.
	MinClusters, MaxClusters int
	// ScaleOutInterval is the standard policy's wait between starting one
	// cluster and the next; zero means DefaultScaleOutInterval.
	ScaleOutInterval time.Duration
	// ScaleInIdle is how long an extra cluster is idle before it is shut
	// down; zero means DefaultScaleInIdle.
	ScaleInIdle time.Duration
	// ClusterStartLatency is how long a cluster added by scale-out takes
	// to start; the zero value means Options.ResumeLatency.
	ClusterStartLatency Latency
}

// whConfig is one warehouse's settings, defaults applied.
type whConfig struct {
	size             string
	maxConcurrency   int
	queuedTimeout    time.Duration
	statementTimeout time.Duration
	autoSuspend      time.Duration // 0: never
	autoResume       bool
	minClusters      int
	maxClusters      int
	scaleOutInterval time.Duration
	scaleInIdle      time.Duration
	clusterStart     Latency
	resume           Latency
}

func (o WarehouseOptions) config(resume Latency) whConfig {
	c := whConfig{
		size:             o.Size,
		maxConcurrency:   o.MaxConcurrency,
		queuedTimeout:    o.QueuedTimeout,
		statementTimeout: o.StatementTimeout,
		autoSuspend:      o.AutoSuspend,
		autoResume:       !o.NoAutoResume,
		minClusters:      max(o.MinClusters, 1),
		maxClusters:      max(o.MaxClusters, 1),
		scaleOutInterval: o.ScaleOutInterval,
		scaleInIdle:      o.ScaleInIdle,
		clusterStart:     o.ClusterStartLatency,
		resume:           resume,
	}
	if c.size == "" {
		c.size = DefaultWarehouseSize
	}
	if c.maxConcurrency <= 0 {
		c.maxConcurrency = DefaultMaxConcurrency
	}
	switch {
	case c.autoSuspend == 0:
		c.autoSuspend = DefaultAutoSuspend
	case c.autoSuspend < 0:
		c.autoSuspend = 0
	}
	if c.scaleOutInterval <= 0 {
		c.scaleOutInterval = DefaultScaleOutInterval
	}
	if c.scaleInIdle <= 0 {
		c.scaleInIdle = DefaultScaleInIdle
	}
	if c.clusterStart.isZero() {
		c.clusterStart = resume
	}
	return c
}

func (o WarehouseOptions) validate() error {
	switch {
	case o.MaxConcurrency < 0:
		return fmt.Errorf("snowflaketest: Options.Warehouse.MaxConcurrency must not be negative, got %d", o.MaxConcurrency)
	case o.QueuedTimeout < 0:
		return fmt.Errorf("snowflaketest: Options.Warehouse.QueuedTimeout must not be negative, got %v", o.QueuedTimeout)
	case o.StatementTimeout < 0:
		return fmt.Errorf("snowflaketest: Options.Warehouse.StatementTimeout must not be negative, got %v", o.StatementTimeout)
	case o.AutoSuspend < 0 && o.AutoSuspend != NoAutoSuspend:
		return fmt.Errorf("snowflaketest: Options.Warehouse.AutoSuspend must be positive, zero or NoAutoSuspend, got %v", o.AutoSuspend)
	case o.MinClusters < 0 || o.MaxClusters < 0 || max(o.MinClusters, 1) > max(o.MaxClusters, 1):
		return fmt.Errorf("snowflaketest: Options.Warehouse: want 1 <= MinClusters <= MaxClusters, got %d and %d", o.MinClusters, o.MaxClusters)
	}
	return o.ClusterStartLatency.validate("Warehouse.ClusterStartLatency")
}

// cluster is one compute cluster of a warehouse.
type cluster struct {
	number    int       // CLUSTER_NUMBER, from 1
	readyAt   time.Time // it runs statements from then on
	running   int       // statements holding one of its slots
	idleSince time.Time // when running last dropped to zero
}

// ticket is one statement's place at a warehouse: in its queue, then in a
// cluster's slot.
type ticket struct {
	arrived   time.Time
	granted   chan struct{} // closed when a slot is given, or when err is set
	err       *sqlError     // why the statement leaves the queue without a slot
	cluster   *cluster
	grantedAt time.Time
	// provisioning is the part of the wait spent while the warehouse was
	// starting (QUEUED_PROVISIONING_TIME); the rest is QUEUED_OVERLOAD_TIME.
	provisioning time.Duration
	overload     time.Duration
}

// warehouse is the model of one virtual warehouse. Its fields are guarded
// by Server.mu.
type warehouse struct {
	name string
	cfg  whConfig
	// clusters is empty while the warehouse is suspended. A resumed
	// warehouse has cfg.minClusters clusters, ready after the resume
	// latency; scale-out appends clusters.
	clusters []*cluster
	// provisionedAt is when the last resume ends: statements that wait
	// before then wait for provisioning.
	provisionedAt time.Time
	lastStart     time.Time // when the last cluster was started by scale-out
	idleSince     time.Time // when the whole warehouse last became idle
	queue         []*ticket // FIFO
	timer         *time.Timer
}

// WarehouseState is a snapshot of one warehouse, for tests.
type WarehouseState struct {
	Name string
	// Running is false while the warehouse is suspended; true from the
	// moment it starts resuming.
	Running bool
	// Clusters is how many clusters are started (some may still be
	// provisioning); Ready how many of them run statements.
	Clusters, Ready int
	// Active is the number of statements holding a slot, Queued the number
	// waiting for one.
	Active, Queued int
	// MaxConcurrency, MinClusters and MaxClusters are its settings.
	MaxConcurrency, MinClusters, MaxClusters int
	Size                                     string
}

// Warehouse returns a snapshot of the named warehouse, creating it with
// Options.Warehouse if it does not exist yet (as any warehouse a session
// names exists).
func (s *Server) Warehouse(name string) WarehouseState {
	s.mu.Lock()
	defer s.mu.Unlock()
	wh := s.warehouseLocked(normIdent(name))
	s.tickLocked(wh, time.Now())
	st := WarehouseState{Name: wh.name, Running: len(wh.clusters) > 0, Clusters: len(wh.clusters),
		Queued: len(wh.queue), MaxConcurrency: wh.cfg.maxConcurrency, MinClusters: wh.cfg.minClusters,
		MaxClusters: wh.cfg.maxClusters, Size: wh.cfg.size}
	now := time.Now()
	for _, c := range wh.clusters {
		if !c.readyAt.After(now) {
			st.Ready++
		}
		st.Active += c.running
	}
	return st
}

// warehouseLocked returns the named warehouse, created suspended with the
// server's defaults if it is new.
func (s *Server) warehouseLocked(name string) *warehouse {
	wh := s.warehouses[name]
	if wh == nil {
		wh = &warehouse{name: name, cfg: s.opts.Warehouse.config(s.opts.ResumeLatency)}
		s.warehouses[name] = wh
	}
	return wh
}

// resumeLocked starts a suspended warehouse: its minimum of clusters
// provision together, for one draw of the resume latency.
func (s *Server) resumeLocked(wh *warehouse, now time.Time) {
	ready := now.Add(s.drawLocked(wh.cfg.resume))
	wh.clusters = nil
	for i := range wh.cfg.minClusters {
		wh.clusters = append(wh.clusters, &cluster{number: i + 1, readyAt: ready, idleSince: ready})
	}
	wh.provisionedAt, wh.idleSince, wh.lastStart = ready, ready, time.Time{}
}

// suspendLocked suspends wh. Statements holding slots finish; statements
// in its queue make it resume again if it may, and fail if it may not.
func (s *Server) suspendLocked(wh *warehouse, now time.Time) {
	wh.clusters = nil
	if len(wh.queue) > 0 {
		if !wh.cfg.autoResume {
			failQueueLocked(wh, errNoResume(wh.name))
			return
		}
		s.resumeLocked(wh, now)
		s.counters.WarehouseAutoResumes++
	}
	s.dispatchLocked(wh, now)
}

// failQueueLocked sends every statement in wh's queue away with err.
func failQueueLocked(wh *warehouse, err *sqlError) {
	for _, t := range wh.queue {
		t.err = err
		close(t.granted)
	}
	wh.queue = nil
}

func errNoResume(name string) *sqlError {
	return &sqlError{code: "000606", state: "57P03",
		msg: fmt.Sprintf("Warehouse '%s' is suspended and its AUTO_RESUME is FALSE.", name)}
}

// idle reports whether no statement holds or waits for a slot.
func (wh *warehouse) idle() bool {
	if len(wh.queue) > 0 {
		return false
	}
	for _, c := range wh.clusters {
		if c.running > 0 {
			return false
		}
	}
	return true
}

// tickLocked applies what time did since the last event: auto-suspend of
// an idle warehouse, shutdown of idle extra clusters.
func (s *Server) tickLocked(wh *warehouse, now time.Time) {
	if len(wh.clusters) == 0 {
		return
	}
	if wh.cfg.autoSuspend > 0 && wh.idle() && !now.Before(wh.idleSince.Add(wh.cfg.autoSuspend)) {
		wh.clusters = nil
		s.counters.WarehouseAutoSuspends++
		return
	}
	for len(wh.clusters) > wh.cfg.minClusters {
		last := wh.clusters[len(wh.clusters)-1]
		if last.running > 0 || !last.readyAt.Before(now) || now.Before(last.idleSince.Add(wh.cfg.scaleInIdle)) {
			break
		}
		wh.clusters = wh.clusters[:len(wh.clusters)-1]
	}
}

// dispatchLocked gives free slots to the queue's head, in order, starts a
// cluster when statements still queue and the scaling policy allows it,
// and arms the timer for the next moment something can change.
func (s *Server) dispatchLocked(wh *warehouse, now time.Time) {
	for len(wh.queue) > 0 {
		var free *cluster
		for _, c := range wh.clusters {
			if !c.readyAt.After(now) && c.running < wh.cfg.maxConcurrency {
				free = c
				break
			}
		}
		if free == nil {
			break
		}
		t := wh.queue[0]
		wh.queue = wh.queue[1:]
		free.running++
		t.cluster, t.grantedAt = free, now
		wait := now.Sub(t.arrived)
		if t.arrived.Before(wh.provisionedAt) {
			t.provisioning = min(wait, wh.provisionedAt.Sub(t.arrived))
		}
		t.overload = wait - t.provisioning
		close(t.granted)
	}
	var next time.Time
	starting := false
	for _, c := range wh.clusters {
		if c.readyAt.After(now) {
			starting = true
			if next.IsZero() || c.readyAt.Before(next) {
				next = c.readyAt
			}
		}
	}
	// The standard scaling policy: a cluster starts as soon as a statement
	// queues on a running warehouse, each further one no sooner than
	// scaleOutInterval after the one before.
	if len(wh.queue) > 0 && len(wh.clusters) > 0 && !starting && len(wh.clusters) < wh.cfg.maxClusters {
		if earliest := wh.lastStart.Add(wh.cfg.scaleOutInterval); wh.lastStart.IsZero() || !now.Before(earliest) {
			ready := now.Add(s.drawLocked(wh.cfg.clusterStart))
			wh.clusters = append(wh.clusters, &cluster{number: len(wh.clusters) + 1, readyAt: ready, idleSince: ready})
			wh.lastStart = now
			s.counters.ClustersStarted++
			if ready.After(now) {
				next = ready
			} else {
				s.dispatchLocked(wh, now)
				return
			}
		} else if next.IsZero() || earliest.Before(next) {
			next = earliest
		}
	}
	if wh.timer != nil {
		wh.timer.Stop()
		wh.timer = nil
	}
	if !next.IsZero() && len(wh.queue) > 0 && !s.closed {
		wh.timer = time.AfterFunc(next.Sub(now), func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.dispatchLocked(wh, time.Now())
		})
	}
}

// errQueuedTimeout is the error of a statement that waited longer than
// STATEMENT_QUEUED_TIMEOUT_IN_SECONDS. Snowflake documents the timeout but
// not its error; this is the code and text of its statement timeout, which
// is an assumption.
func errQueuedTimeout(d time.Duration) *sqlError {
	return &sqlError{code: "000630", state: "57014",
		msg: fmt.Sprintf("Statement reached its statement or warehouse timeout of %d second(s) and was canceled.", int64((d+time.Second-1)/time.Second))}
}

var errCanceled = &sqlError{code: "000604", state: "57014", msg: "SQL execution canceled"}

// acquire waits for a slot of the statement's warehouse: it resumes a
// suspended warehouse (the wait counts as provisioning), queues in FIFO
// order, and gives up after timeout or when ctx ends. The timeout is the
// smaller of the session's and the warehouse's
// STATEMENT_QUEUED_TIMEOUT_IN_SECONDS (zero: none). The ticket returned
// holds the time waited, also on failure; on success the caller must
// release it.
func (s *Server) acquire(ctx context.Context, st *Statement, timeout time.Duration) (*ticket, *sqlError) {
	s.mu.Lock()
	now := time.Now()
	// The statement reaches the warehouse now: its compilation (and the
	// result cache's lookup) ends, its wait begins.
	st.Compilation = now.Sub(st.Start)
	wh := s.warehouseLocked(st.Warehouse)
	s.tickLocked(wh, now)
	st.WarehouseSize = wh.cfg.size
	if len(wh.clusters) == 0 {
		if !wh.cfg.autoResume {
			s.mu.Unlock()
			return &ticket{}, errNoResume(wh.name)
		}
		s.resumeLocked(wh, now)
		s.counters.WarehouseAutoResumes++
	}
	timeout = minPositive(timeout, wh.cfg.queuedTimeout)
	t := &ticket{arrived: now, granted: make(chan struct{})}
	wh.queue = append(wh.queue, t)
	s.dispatchLocked(wh, now)
	select {
	case <-t.granted:
		s.mu.Unlock()
		return t, nil
	default:
	}
	if now.Before(wh.provisionedAt) {
		st.Status = "RESUMING_WAREHOUSE"
	} else {
		st.Status = "QUEUED"
	}
	s.mu.Unlock()

	var expired <-chan time.Time
	if timeout > 0 {
		tm := time.NewTimer(timeout)
		defer tm.Stop()
		expired = tm.C
	}
	var err *sqlError
	select {
	case <-t.granted:
	case <-expired:
		err = errQueuedTimeout(timeout)
	case <-ctx.Done():
		err = errCanceled
	case <-s.done:
		err = errCanceled
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && t.err == nil {
		return t, nil // the wait was measured when the slot was given
	}
	if err == nil {
		err = t.err
	}
	select {
	case <-t.granted: // given a slot (or sent away) while giving up
		s.releaseLocked(wh, t, time.Now())
	default:
		for i, q := range wh.queue {
			if q == t {
				wh.queue = append(wh.queue[:i:i], wh.queue[i+1:]...)
				break
			}
		}
	}
	t.provisioning, t.overload = 0, 0
	wait := time.Since(t.arrived)
	if t.arrived.Before(wh.provisionedAt) {
		t.provisioning = min(wait, wh.provisionedAt.Sub(t.arrived))
	}
	t.overload = wait - t.provisioning
	return t, err
}

// release hands a ticket's slot back.
func (s *Server) release(st *Statement, t *ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(s.warehouseLocked(st.Warehouse), t, time.Now())
}

func (s *Server) releaseLocked(wh *warehouse, t *ticket, now time.Time) {
	c := t.cluster
	if c == nil {
		return
	}
	t.cluster = nil
	c.running--
	if c.running == 0 {
		c.idleSince = now
	}
	if wh.idle() {
		wh.idleSince = now
	}
	s.dispatchLocked(wh, now)
}

// setWarehouseProps applies what CREATE WAREHOUSE and ALTER WAREHOUSE ...
// SET set.
// Unknown properties are an error; SCALING_POLICY = ECONOMY is refused,
// since the model has only the standard policy.
func (s *Server) setWarehouseProps(wh *warehouse, props map[string]string, create bool) *sqlError {
	c := wh.cfg
	suspended := false
	for k, v := range props {
		bad := func() *sqlError {
			return &sqlError{code: "001008", state: "22023", msg: fmt.Sprintf("SQL compilation error:\ninvalid value [%s] for parameter '%s'", v, k)}
		}
		secs := func() (time.Duration, bool) {
			if strings.EqualFold(v, "NULL") {
				return 0, true
			}
			n, err := strconv.ParseInt(v, 10, 64)
			return time.Duration(n) * time.Second, err == nil && n >= 0
		}
		switch k {
		case "WAREHOUSE_SIZE":
			size, ok := warehouseSizes[strings.ToUpper(strings.ReplaceAll(v, "-", ""))]
			if !ok {
				return bad()
			}
			c.size = size
		case "MAX_CONCURRENCY_LEVEL":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return bad()
			}
			c.maxConcurrency = n
		case "STATEMENT_QUEUED_TIMEOUT_IN_SECONDS", "STATEMENT_TIMEOUT_IN_SECONDS", "AUTO_SUSPEND":
			d, ok := secs()
			if !ok {
				return bad()
			}
			switch k {
			case "STATEMENT_QUEUED_TIMEOUT_IN_SECONDS":
				c.queuedTimeout = d
			case "STATEMENT_TIMEOUT_IN_SECONDS":
				c.statementTimeout = d
			default:
				c.autoSuspend = d
			}
		case "AUTO_RESUME", "INITIALLY_SUSPENDED":
			b, ok := parseBool(v)
			if !ok {
				return bad()
			}
			if k == "AUTO_RESUME" {
				c.autoResume = b
			} else if create {
				suspended = b
			}
		case "MIN_CLUSTER_COUNT", "MAX_CLUSTER_COUNT":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return bad()
			}
			if k == "MIN_CLUSTER_COUNT" {
				c.minClusters = n
			} else {
				c.maxClusters = n
			}
		case "SCALING_POLICY":
			if !strings.EqualFold(v, "STANDARD") {
				return &sqlError{code: "001008", state: "22023", msg: fmt.Sprintf("snowflaketest: SCALING_POLICY %s is not modelled; only STANDARD is", v)}
			}
		case "WAREHOUSE_TYPE":
			if !strings.EqualFold(v, "STANDARD") {
				return bad()
			}
		case "COMMENT", "ENABLE_QUERY_ACCELERATION", "QUERY_ACCELERATION_MAX_SCALE_FACTOR", "RESOURCE_MONITOR":
			// Accepted, not modelled.
		default:
			return &sqlError{code: "001008", state: "22023", msg: fmt.Sprintf("SQL compilation error:\ninvalid property '%s' for 'WAREHOUSE'", k)}
		}
	}
	if c.minClusters > c.maxClusters {
		return &sqlError{code: "001008", state: "22023", msg: fmt.Sprintf("SQL compilation error:\nMIN_CLUSTER_COUNT (%d) must not exceed MAX_CLUSTER_COUNT (%d)", c.minClusters, c.maxClusters)}
	}
	wh.cfg = c
	now := time.Now()
	if create && !suspended {
		s.resumeLocked(wh, now)
	}
	if len(wh.clusters) > 0 {
		// A running warehouse gets its new minimum of clusters at once and
		// sheds clusters beyond its maximum.
		for len(wh.clusters) < c.minClusters {
			ready := now.Add(s.drawLocked(c.clusterStart))
			wh.clusters = append(wh.clusters, &cluster{number: len(wh.clusters) + 1, readyAt: ready, idleSince: ready})
		}
		if len(wh.clusters) > c.maxClusters {
			wh.clusters = wh.clusters[:c.maxClusters]
		}
	}
	s.dispatchLocked(wh, now)
	return nil
}

// warehouseSizes maps WAREHOUSE_SIZE's accepted spellings (without
// hyphens) to the form QUERY_HISTORY reports.
var warehouseSizes = map[string]string{
	"XSMALL": "X-Small", "SMALL": "Small", "MEDIUM": "Medium", "LARGE": "Large",
	"XLARGE": "X-Large", "XXLARGE": "2X-Large", "X2LARGE": "2X-Large", "2XLARGE": "2X-Large",
	"XXXLARGE": "3X-Large", "X3LARGE": "3X-Large", "3XLARGE": "3X-Large",
	"X4LARGE": "4X-Large", "4XLARGE": "4X-Large", "X5LARGE": "5X-Large", "5XLARGE": "5X-Large",
	"X6LARGE": "6X-Large", "6XLARGE": "6X-Large",
}

// parseBool reads a Snowflake boolean literal.
func parseBool(v string) (bool, bool) {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "TRUE", "T", "YES", "Y", "ON", "1":
		return true, true
	case "FALSE", "F", "NO", "N", "OFF", "0":
		return false, true
	}
	return false, false
}
