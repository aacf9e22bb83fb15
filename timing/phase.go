package timing

// Phase names one step of a run. The names are a contract: reports, JSON
// results and tests refer to them, so a phase is never renamed.
type Phase string

// The phases of one run of one worker, in the order they happen.
const (
	PoolInit         Phase = "pool.init"          // open and verify the pool's connections
	PoolConn         Phase = "pool.conn"          // one connection opened during pool.init
	SetupProfile     Phase = "setup.profile"      // load value pools and id ranges
	CoordRegister    Phase = "coord.register"     // announce the worker to the coordinator
	CoordWait        Phase = "coord.wait"         // wait for the start signal
	CoordStart       Phase = "coord.start"        // instant: the start signal as issued
	HeartbeatRunning Phase = "heartbeat.running"  // report RUNNING
	ResultsTestStart Phase = "results.test_start" // record the test start in the sinks
	ScaleWarmup      Phase = "scale.warmup"       // start the workers' goroutines
	QueryFirst       Phase = "query.first"        // a worker's first operation
	Warmup           Phase = "warmup"             // the warmup window
	Measure          Phase = "measure"            // the measured window
	Teardown         Phase = "teardown"           // stop workers, flush sinks, release the pool
	ServerHistory    Phase = "server.history"     // read the server's own timing of the run's statements
)

// Phases recorded beside the run's own steps: by the Runner when something
// happens on the way (a retry, a scale, a fault), and by coordinators on a
// node's or the orchestrator's timeline.
const (
	SetupRetry       Phase = "setup.retry"       // a failed attempt of a setup phase that is retried
	Scale            Phase = "scale"             // a change of the target concurrency or rate
	Fault            Phase = "fault"             // a worker without a working operation, until it recovers
	WarmupDrain      Phase = "warmup.drain"      // the warmup's backlog drained before the measured window opens
	CoordReady       Phase = "coord.ready"       // the orchestrator waits for the readiness rule
	CoordPublish     Phase = "coord.publish"     // the orchestrator publishes the start instant
	CoordSeen        Phase = "coord.seen"        // instant: a node saw the start signal
	CoordLost        Phase = "coord.lost"        // instant: a node was declared lost
	CoordUnreachable Phase = "coord.unreachable" // a node's heartbeats failed, until they recovered
	CoordThreshold   Phase = "coord.threshold"   // instant: a fleet threshold failed and aborted the run
)

// Kind says what sort of mark a phase makes. Reports and the Runner's
// hooks go by the kind, never by a list of phase names, so that a phase
// added to the registry (see [Phases]) is placed and reported everywhere
// at once.
type Kind uint8

// The kinds of phase.
const (
	// KindStartup is a process-level span of the way to the first query,
	// which the Runner runs and brackets with its PhaseStart and PhaseDone
	// hooks: pool.init, setup.profile, coord.register, scale.warmup,
	// heartbeat.running, results.test_start, coord.wait. A phase the
	// registry does not know is of this kind (see [Lookup]): a pool's
	// own preparation, such as warehouse.resume, is one.
	KindStartup Kind = iota
	// KindInstant is an instant of the run itself: coord.start.
	KindInstant
	// KindWorker is a span that each worker goroutine records for itself:
	// query.first.
	KindWorker
	// KindWindow is a span that lasts as long as the run, or follows it:
	// warmup, measure, teardown and server.history. Reports draw the startup on an axis
	// that leaves windows out, and never name a window as the longest
	// span before the first query.
	KindWindow
	// KindMark is a side mark, recorded beside the phase in which
	// something happened: pool.conn (one connection of pool.init),
	// setup.retry, scale, fault, warmup.drain (the wait for the warmup's
	// backlog between the warmup and the measured window). It is never the longest span before the
	// first query: the phase it happened in is.
	KindMark
	// KindCoord is a coordinator's mark, on a node's timeline or on the
	// orchestrator's: coord.ready, coord.publish, coord.seen, coord.lost,
	// coord.unreachable.
	KindCoord
)

var kindNames = [...]string{"startup", "instant", "worker", "window", "mark", "coord"}

// String returns the kind's name: "startup", "instant", "worker",
// "window", "mark" or "coord".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Class says how reports draw a phase: phases of one class share a colour.
// It is a short lower-case word, usable as part of a CSS class name.
type Class string

// The display classes.
const (
	ClassPool        Class = "pool"        // pool.init
	ClassConn        Class = "conn"        // pool.conn
	ClassProfile     Class = "profile"     // setup.profile
	ClassRetry       Class = "retry"       // setup.retry
	ClassRegister    Class = "register"    // coord.register
	ClassWait        Class = "wait"        // coord.wait
	ClassSignal      Class = "signal"      // coord.start
	ClassReady       Class = "ready"       // heartbeat.running
	ClassResults     Class = "results"     // results.test_start
	ClassGate        Class = "gate"        // scale.warmup
	ClassQuery       Class = "query"       // query.first
	ClassWarmup      Class = "warmup"      // warmup
	ClassMeasure     Class = "measure"     // measure
	ClassTeardown    Class = "teardown"    // teardown, server.history
	ClassScale       Class = "scale"       // scale
	ClassFault       Class = "fault"       // fault, coord.unreachable: something did not work
	ClassCoordinator Class = "coordinator" // coord.ready, coord.publish, coord.seen, coord.lost
	ClassOther       Class = "other"       // every phase the registry does not know
)

// PhaseInfo is what the registry knows about one phase.
type PhaseInfo struct {
	Phase Phase
	// Order is the phase's position in the registry, from 0: reports
	// list phases that begin together in this order. Every unknown phase
	// has the order len(Phases()), after all known ones.
	Order int
	Kind  Kind
	Class Class
}

// registry is every known phase, in run order: the one table from which the
// waterfall's order, Summarize's choice of the longest span, the HTML
// report's classes and the Runner's hooks derive. The run's own steps come
// first, in the order the fast start takes them; the phases recorded
// beside them follow.
var registry = [...]PhaseInfo{
	{Phase: PoolInit, Kind: KindStartup, Class: ClassPool},
	{Phase: PoolConn, Kind: KindMark, Class: ClassConn},
	{Phase: SetupProfile, Kind: KindStartup, Class: ClassProfile},
	{Phase: CoordRegister, Kind: KindStartup, Class: ClassRegister},
	{Phase: CoordWait, Kind: KindStartup, Class: ClassWait},
	{Phase: CoordStart, Kind: KindInstant, Class: ClassSignal},
	{Phase: HeartbeatRunning, Kind: KindStartup, Class: ClassReady},
	{Phase: ResultsTestStart, Kind: KindStartup, Class: ClassResults},
	{Phase: ScaleWarmup, Kind: KindStartup, Class: ClassGate},
	{Phase: QueryFirst, Kind: KindWorker, Class: ClassQuery},
	{Phase: Warmup, Kind: KindWindow, Class: ClassWarmup},
	{Phase: Measure, Kind: KindWindow, Class: ClassMeasure},
	{Phase: Teardown, Kind: KindWindow, Class: ClassTeardown},
	{Phase: ServerHistory, Kind: KindWindow, Class: ClassTeardown},
	{Phase: SetupRetry, Kind: KindMark, Class: ClassRetry},
	{Phase: Scale, Kind: KindMark, Class: ClassScale},
	{Phase: Fault, Kind: KindMark, Class: ClassFault},
	{Phase: WarmupDrain, Kind: KindMark, Class: ClassWarmup},
	{Phase: CoordReady, Kind: KindCoord, Class: ClassCoordinator},
	{Phase: CoordPublish, Kind: KindCoord, Class: ClassCoordinator},
	{Phase: CoordSeen, Kind: KindCoord, Class: ClassCoordinator},
	{Phase: CoordLost, Kind: KindCoord, Class: ClassCoordinator},
	{Phase: CoordUnreachable, Kind: KindCoord, Class: ClassFault},
	{Phase: CoordThreshold, Kind: KindCoord, Class: ClassFault},
}

// order maps each known phase to its position in registry.
var order = func() map[Phase]int {
	m := make(map[Phase]int, len(registry))
	for i, info := range registry {
		m[info.Phase] = i
	}
	return m
}()

// Phases returns every known phase, in order: the run's own steps as they
// happen, then the phases recorded beside them.
func Phases() []PhaseInfo {
	out := make([]PhaseInfo, len(registry))
	for i, info := range registry {
		info.Order = i
		out[i] = info
	}
	return out
}

// Lookup returns what the registry knows about p. A phase it does not know,
// such as a pool's own preparation phase (warehouse.resume, from
// pool.Preparer) or a phase of a newer version read from a saved result,
// is a startup span (KindStartup) of ClassOther, ordered after every known
// phase: an extension phase needs no registration, and every process reads
// every result alike.
func Lookup(p Phase) PhaseInfo {
	if i, ok := order[p]; ok {
		info := registry[i]
		info.Order = i
		return info
	}
	return PhaseInfo{Phase: p, Order: len(registry), Kind: KindStartup, Class: ClassOther}
}

// Kind is Lookup(p).Kind.
func (p Phase) Kind() Kind { return Lookup(p).Kind }
