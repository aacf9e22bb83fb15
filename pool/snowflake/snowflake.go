package snowflake

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snowflakedb/gosnowflake"

	"github.com/startline/startline/internal/backoff"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/sqlpool"
	"github.com/startline/startline/timing"
)

// Defaults for the login retries of Options.
const (
	DefaultLoginRetries    = 5
	DefaultRetryBackoff    = 200 * time.Millisecond
	DefaultMaxRetryBackoff = 5 * time.Second
)

// PhaseWarehouseResume names the span of Pool.Prepare on a run's timeline.
const PhaseWarehouseResume timing.Phase = "warehouse.resume"

// Options configures a Pool. The zero value applies the default Settings
// and retries throttled logins DefaultLoginRetries times.
type Options struct {
	// Settings are applied to every session; see Settings.
	Settings Settings
	// SQL says how sessions use the database/sql pool (pinned connections
	// and prepared statements by default; gosnowflake prepares nothing on
	// the server, so preparing costs no round trip).
	SQL sqlpool.Options
	// LoginRetries is how many times a login that failed with a retryable
	// error is tried again; zero means DefaultLoginRetries, negative never.
	LoginRetries int
	// RetryBackoff is the pause before the first retry; it doubles for each
	// further retry, with jitter, up to MaxRetryBackoff. Zero means the
	// defaults.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// Retryable decides which login errors are retried; nil means
	// IsRetryable.
	Retryable func(error) bool
	// Logger receives a warning for each retried login. Nil discards.
	Logger *slog.Logger
	// HistoryWait bounds how long Statements waits for the query history
	// to hold the statements a Runner expects (see Pool.Statements); zero
	// means DefaultHistoryWait, negative not at all.
	HistoryWait time.Duration
}

// Login records one connection's login: from the first attempt to the
// last, and how many attempts it took.
type Login struct {
	Start    time.Time
	End      time.Time
	Attempts int
	Err      error // nil when the session was opened
}

// Pool is a [pool.Pool] of Snowflake sessions: a [sqlpool.Pool] over
// gosnowflake, whose logins are retried when throttled and timed, and whose
// sessions carry the Settings and a QUERY_TAG per statement. Its methods
// are safe for concurrent use, as pool.Pool documents.
type Pool struct {
	sql      *sqlpool.Pool
	db       *sql.DB
	settings Settings
	account  string
	host     string // host:port
	user     string
	opts     Options

	mu     sync.Mutex
	logins []Login

	nextWorker atomic.Int64 // worker index of the next Session, reset by Warm
}

// New returns a Pool for cfg, which it copies: the copy's Warehouse and
// Params are set from opts.Settings, whatever cfg had. Nothing is opened
// until Warm or Session.
func New(cfg *gosnowflake.Config, opts Options) (*Pool, error) {
	if cfg == nil {
		return nil, &SettingsError{Field: "Config", Err: errors.New("is nil")}
	}
	if err := opts.Settings.validate(); err != nil {
		return nil, err
	}
	switch {
	case opts.RetryBackoff < 0:
		return nil, &SettingsError{Field: "Options.RetryBackoff", Err: fmt.Errorf("must not be negative, got %v", opts.RetryBackoff)}
	case opts.MaxRetryBackoff < 0:
		return nil, &SettingsError{Field: "Options.MaxRetryBackoff", Err: fmt.Errorf("must not be negative, got %v", opts.MaxRetryBackoff)}
	}
	if opts.LoginRetries == 0 {
		opts.LoginRetries = DefaultLoginRetries
	}
	if opts.RetryBackoff == 0 {
		opts.RetryBackoff = DefaultRetryBackoff
	}
	if opts.MaxRetryBackoff == 0 {
		opts.MaxRetryBackoff = DefaultMaxRetryBackoff
	}
	if opts.Retryable == nil {
		opts.Retryable = IsRetryable
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Settings.RunID == "" {
		opts.Settings.RunID = "run-" + time.Now().UTC().Format("20060102T150405.000000")
	}
	if opts.Settings.Node == "" {
		host, _ := os.Hostname()
		opts.Settings.Node = cmp.Or(host, "node") + "-" + strconv.Itoa(os.Getpid())
	}
	if opts.HistoryWait == 0 {
		opts.HistoryWait = DefaultHistoryWait
	}

	c := *cfg
	c.Params = make(map[string]*string, len(cfg.Params)+3)
	for k, v := range cfg.Params {
		c.Params[k] = v
	}
	for k, v := range opts.Settings.Params() {
		c.Params[k] = &v
	}
	if opts.Settings.Warehouse != "" {
		c.Warehouse = opts.Settings.Warehouse
	}
	host, port := c.Host, c.Port
	if host == "" {
		host = c.Account + ".snowflakecomputing.com"
	}
	if port == 0 {
		port = 443
	}
	p := &Pool{
		settings: opts.Settings,
		account:  c.Account,
		host:     host + ":" + strconv.Itoa(port),
		user:     c.User,
		opts:     opts,
	}
	secrets := []string{c.Password, c.Token, c.Passcode, c.OauthClientSecret, c.ProxyPassword}
	p.db = sql.OpenDB(&connector{inner: gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{}, c), p: p, secrets: secrets})
	p.sql = sqlpool.New(p.db, opts.SQL)
	return p, nil
}

// Open is New for a gosnowflake DSN
// (user:password@account/db/schema?warehouse=...).
func Open(dsn string, opts Options) (*Pool, error) {
	cfg, err := gosnowflake.ParseDSN(dsn)
	if err != nil {
		// The driver's parse errors quote no part of the DSN, but be sure.
		return nil, &SettingsError{Field: "DSN", Err: errors.New(redact(err.Error(), dsnSecrets(dsn)))}
	}
	return New(cfg, opts)
}

// dsnSecrets is the password part of a DSN, for scrubbing.
func dsnSecrets(dsn string) []string {
	for i := len(dsn) - 1; i >= 0; i-- {
		if dsn[i] == '@' {
			for j := 0; j < i; j++ {
				if dsn[j] == ':' {
					return []string{dsn[j+1 : i]}
				}
			}
		}
	}
	return nil
}

// Settings returns the settings every session has, with RunID filled in.
func (p *Pool) Settings() Settings { return p.settings }

// Describe implements pool.Describer: a Runner records the session
// settings in Result.Pool, since they are part of what was measured.
func (p *Pool) Describe() map[string]string {
	d := map[string]string{
		"driver":            "snowflake",
		"run_id":            p.settings.RunID,
		"use_cached_result": strconv.FormatBool(p.settings.ResultCache),
	}
	if p.settings.Warehouse != "" {
		d["warehouse"] = p.settings.Warehouse
	}
	if p.settings.StatementTimeout > 0 {
		d["statement_timeout_in_seconds"] = strconv.FormatInt(p.settings.timeoutSeconds(), 10)
	}
	return d
}

// DB returns the underlying *sql.DB, still owned by the Pool: for the
// coordinator tables, the profiler and the results sink.
func (p *Pool) DB() *sql.DB { return p.db }

// Logins returns a record of every login so far, in the order they ended.
func (p *Pool) Logins() []Login {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Login(nil), p.logins...)
}

// Warm implements [pool.Pool]: it opens opts.Conns sessions, at most
// opts.Parallel logins at once, each verified with a round trip. A login
// that fails with a retryable error is retried with backoff within its
// slot; a permanent error fails the warm-up at once with a *LoginError that
// names account, host and user. Warm also restarts the numbering of
// sessions: the i-th Session after Warm is tagged as worker i, which is the
// order in which a loadtest Runner takes them.
func (p *Pool) Warm(ctx context.Context, opts pool.WarmOptions) error {
	p.nextWorker.Store(0)
	return p.sql.Warm(ctx, opts)
}

// Session implements [pool.Pool]. The returned value is a *Session.
func (p *Pool) Session(ctx context.Context) (pool.Session, error) {
	s, err := p.sql.Session(ctx)
	if err != nil {
		return nil, err
	}
	w := int(p.nextWorker.Add(1) - 1)
	ss := &Session{inner: s.(*sqlpool.Session), settings: p.settings, worker: w}
	ss.tag = p.settings.QueryTag(w, "", "")
	return ss, nil
}

// Close closes every session (each close is a request to Snowflake).
func (p *Pool) Close() error { return p.sql.Close() }

// Prepare resumes the Settings' warehouse (ALTER WAREHOUSE ... RESUME IF
// SUSPENDED) unless there is none or Settings.SkipResume is set. Run it after
// the warm-up and before the start barrier, as its own phase
// (PreparePhase): a suspended warehouse takes seconds to start, which would
// otherwise land on the first queries.
func (p *Pool) Prepare(ctx context.Context) error {
	if p.settings.Warehouse == "" || p.settings.SkipResume {
		return nil
	}
	wh, err := dialect.Snowflake.Ident(p.settings.Warehouse)
	if err != nil {
		return err // validated in New
	}
	if _, err := p.db.ExecContext(ctx, "ALTER WAREHOUSE "+wh+" RESUME IF SUSPENDED"); err != nil {
		return fmt.Errorf("snowflake: resume warehouse %s: %w", wh, err)
	}
	return nil
}

// PreparePhase is the phase under which Prepare's span belongs on a run's
// timeline: PhaseWarehouseResume.
func (p *Pool) PreparePhase() timing.Phase { return PhaseWarehouseResume }

// connector is the gosnowflake connector with the Pool's login retries and
// records around it.
type connector struct {
	inner   driver.Connector
	p       *Pool
	secrets []string
}

// Connect logs in, retrying retryable failures with backoff. The pause
// happens inside the caller's warm-up slot, so the bound on parallel logins
// holds while a throttled server is waited for.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	p := c.p
	start := time.Now()
	// Full jitter in [pause/2, pause]: logins throttled together do not
	// all come back together.
	pause := backoff.Backoff{Initial: p.opts.RetryBackoff, Max: p.opts.MaxRetryBackoff, Jitter: 0.5}
	for attempt := 1; ; attempt++ {
		conn, err := c.inner.Connect(ctx)
		if err == nil {
			p.record(Login{Start: start, End: time.Now(), Attempts: attempt})
			return conn, nil
		}
		lerr := &LoginError{Account: p.account, Host: p.host, User: p.user, Attempts: attempt, Err: err, secrets: c.secrets}
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// The login may have failed for its own reason while the
			// warm-up was being cancelled: report both.
			lerr.Err = errors.Join(err, cerr)
		}
		if attempt > p.opts.LoginRetries || !p.opts.Retryable(err) || ctx.Err() != nil {
			p.record(Login{Start: start, End: time.Now(), Attempts: attempt, Err: lerr})
			return nil, lerr
		}
		p.opts.Logger.Warn("snowflake: login throttled, retrying",
			"account", p.account, "host", p.host, "user", p.user,
			"attempt", attempt, "err", redact(err.Error(), c.secrets))
		if cerr := pause.Sleep(ctx); cerr != nil {
			lerr.Err = errors.Join(err, cerr)
			p.record(Login{Start: start, End: time.Now(), Attempts: attempt, Err: lerr})
			return nil, lerr
		}
	}
}

func (c *connector) Driver() driver.Driver { return c.inner.Driver() }

func (p *Pool) record(l Login) {
	p.mu.Lock()
	p.logins = append(p.logins, l)
	p.mu.Unlock()
}

// Session is one worker's [pool.Session] on Snowflake. Every statement it
// runs carries a QUERY_TAG naming the run, the node, the worker, the phase
// and the operation (as a statement parameter: no extra round trip). Like
// every pool.Session it is used by one goroutine at a time.
type Session struct {
	inner     *sqlpool.Session
	settings  Settings
	worker    int
	phase, op string
	tag       string
	tags      map[string]string // by operation, for the worker and phase
}

// TagPhase implements pool.PhaseTagger: it sets the worker, the phase and
// the operation that the session's statements are tagged with from now
// on. A Runner calls it before every operation whose phase or operation
// changed; it builds each tag once per phase and then only looks it up,
// allocating nothing, and sends nothing.
func (s *Session) TagPhase(worker int, phase, operation string) {
	if worker == s.worker && phase == s.phase && operation == s.op {
		return
	}
	if worker != s.worker || phase != s.phase {
		s.worker, s.phase = worker, phase
		clear(s.tags)
	}
	s.op = operation
	t, ok := s.tags[operation]
	if !ok {
		t = s.settings.QueryTag(worker, phase, operation)
		if s.tags == nil {
			s.tags = make(map[string]string)
		}
		s.tags[operation] = t
	}
	s.tag = t
}

// QueryTag is the QUERY_TAG the session's next statement carries.
func (s *Session) QueryTag() string { return s.tag }

// Context returns ctx carrying the session's QUERY_TAG, for statements run
// on Conn directly.
func (s *Session) Context(ctx context.Context) context.Context {
	return gosnowflake.WithQueryTag(ctx, s.tag)
}

// Conn returns the pinned connection (nil with Options.SQL.Shared); use
// Context for its statements to carry the tag. The Session owns it.
func (s *Session) Conn() *sql.Conn { return s.inner.Conn() }

// Query implements [pool.Session], tagging the statement.
func (s *Session) Query(ctx context.Context, query string, args ...any) (int64, error) {
	return s.inner.Query(gosnowflake.WithQueryTag(ctx, s.tag), query, args...)
}

// Close implements [pool.Session].
func (s *Session) Close() error { return s.inner.Close() }

var (
	_ pool.Pool        = (*Pool)(nil)
	_ pool.Session     = (*Session)(nil)
	_ driver.Connector = (*connector)(nil)
)

// The optional capabilities a Runner discovers.
var (
	_ pool.Preparer         = (*Pool)(nil)
	_ pool.Describer        = (*Pool)(nil)
	_ pool.Classifier       = (*Pool)(nil)
	_ pool.StatementHistory = (*Pool)(nil)
	_ pool.PhaseTagger      = (*Session)(nil)
)
