package snowflaketest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // the embedded database the statements run on
	"github.com/snowflakedb/gosnowflake"
)

// Credentials a Server accepts when Options.Users is nil, and the account it
// answers for when Options.Account is empty.
const (
	DefaultAccount  = "testaccount"
	DefaultUser     = "startline"
	DefaultPassword = "local-secret"
)

// Options configures a Server. The zero value serves DefaultAccount to
// DefaultUser with no added latency.
type Options struct {
	// Account is the account name logins must give; default DefaultAccount.
	// A login for another account gets HTTP 403, as an unknown account's
	// host would answer.
	Account string
	// Users maps user names to passwords; nil means DefaultUser with
	// DefaultPassword.
	Users map[string]string

	// LoginLatency is added to every login request.
	LoginLatency Latency
	// CompileLatency is every statement's compilation time
	// (COMPILATION_TIME), spent before it waits for the warehouse.
	CompileLatency Latency
	// QueryLatency is the execution time (EXECUTION_TIME, beside the time
	// SQLite takes) of every statement that is not DML: queries, DDL,
	// ALTER SESSION, USE.
	QueryLatency Latency
	// InsertLatency is the execution time of DML statements (INSERT,
	// UPDATE, DELETE, MERGE) instead of QueryLatency.
	InsertLatency Latency
	// ResumeLatency is how long a suspended warehouse takes to resume,
	// whether by ALTER WAREHOUSE ... RESUME or by a statement that needs
	// it (every warehouse starts suspended); the statements that wait for
	// it report the wait as QUEUED_PROVISIONING_TIME.
	ResumeLatency Latency

	// Warehouse configures every warehouse: slots, queue timeout,
	// auto-suspend, clusters. See the package documentation's warehouse
	// model.
	Warehouse WarehouseOptions
	// DefaultWarehouse is the warehouse of sessions that name none at
	// login, as a user's DEFAULT_WAREHOUSE; empty means DefaultWarehouse.
	DefaultWarehouse string

	// Seed seeds the latency draws; zero means a random seed.
	Seed uint64
}

// Endpoint is a request path the server answers; FailNext takes one.
type Endpoint string

// The endpoints gosnowflake calls.
const (
	EndpointLogin     Endpoint = "/session/v1/login-request"
	EndpointQuery     Endpoint = "/queries/v1/query-request"
	EndpointAbort     Endpoint = "/queries/v1/abort-request"
	EndpointRenew     Endpoint = "/session/token-request"
	EndpointSession   Endpoint = "/session" // close, with ?delete=true
	EndpointHeartbeat Endpoint = "/session/heartbeat"
	EndpointTelemetry Endpoint = "/telemetry/send"
)

// Counters counts what a Server has answered.
type Counters struct {
	LoginAttempts    int // login requests, including rejected and failed ones
	Logins           int // sessions opened
	LoginsRejected   int // wrong account, user or password
	Renewals         int // session tokens renewed
	Expired          int // requests refused with 390112 (session token expired)
	Unauthorized     int // requests with a missing, malformed or unknown token
	SessionsClosed   int
	Statements       int // statements received, successful or not
	Injected         int // requests answered with a status set by FailNext
	Telemetry        int // telemetry batches
	Aborts           int // query abort requests
	WarehouseResumes int // ALTER WAREHOUSE ... RESUME that resumed a suspended warehouse
	// WarehouseAutoResumes counts suspended warehouses resumed by a
	// statement that needed them (AUTO_RESUME).
	WarehouseAutoResumes int
	// WarehouseAutoSuspends counts warehouses suspended after AUTO_SUSPEND
	// idle.
	WarehouseAutoSuspends int
	ClustersStarted       int // clusters started by multi-cluster scale-out
	Queued                int // statements that waited for their warehouse: to resume, or for a slot
	CacheHits             int // statements answered from the result cache
}

// Statement is one statement the server received, as QUERY_HISTORY
// reports it.
type Statement struct {
	QueryID   string // QUERY_ID, also in the response
	Session   int64  // the session's id
	User      string // the session's user
	Role      string // the session's role, database and schema
	Database  string
	Schema    string
	SQL       string // the text as received
	Bindings  int    // number of bind parameters
	Kind      string // "select", "dml", "ddl" or "session" (handled by the server)
	QueryType string // QUERY_TYPE: SELECT, INSERT, CREATE_TABLE, ALTER_SESSION...
	Warehouse string // the session's warehouse when the statement ran
	// WarehouseSize is the size of the warehouse the statement waited for
	// or ran on, Cluster the cluster (from 1) that ran it; "" and 0 when
	// it used none (DDL, session statements, queries that read no table,
	// cache hits); a statement that left the queue has a size but no
	// cluster.
	WarehouseSize string
	Cluster       int
	// QueryTag is the QUERY_TAG in force: the statement's own parameter if
	// it had one, else the session's.
	QueryTag string
	// Params are the session parameters in force, with the statement's own
	// parameters applied; names upper-case.
	Params map[string]string
	// Format is how the result was answered: "arrow" (queries, by
	// default) or "json" (GO_QUERY_RESULT_FORMAT=JSON, DML, DDL, errors).
	Format   string
	CacheHit bool   // answered from the result cache
	Rows     int64  // rows returned or affected
	Code     string // the Snowflake error code answered, "" on success
	Message  string // the error message answered
	Status   string // EXECUTION_STATUS: SUCCESS or FAILED_WITH_ERROR
	Start    time.Time
	End      time.Time
	// The parts of the statement's time, as QUERY_HISTORY splits
	// TOTAL_ELAPSED_TIME (End - Start): compiling, waiting for the
	// warehouse to resume, waiting for a slot, executing.
	Compilation        time.Duration
	QueuedProvisioning time.Duration
	QueuedOverload     time.Duration
	Execution          time.Duration

	execStart time.Time // when execution began
	done      bool      // ended: End and Status are final
}

// session is one logged-in session.
type session struct {
	id        int64
	user      string
	token     string
	master    string
	expired   bool
	warehouse string
	database  string
	schema    string
	role      string
	params    map[string]string
}

// Server is a local Snowflake-protocol server. Its methods are safe for
// concurrent use.
type Server struct {
	opts     Options
	ln       net.Listener
	srv      *http.Server
	served   chan struct{} // closed when Serve returns
	done     chan struct{} // closed by Close: latency waits end
	handlers sync.WaitGroup
	db       *sql.DB
	dir      string
	closeMu  sync.Once

	mu         sync.Mutex
	rng        *mrand.Rand
	sessions   map[string]*session // by session token
	masters    map[string]*session // by master token
	nextID     int64
	counters   Counters
	stmts      []*Statement // in order of arrival, running ones too
	faults     map[Endpoint][]int
	warehouses map[string]*warehouse
	cache      map[string]*result // the result cache, by cacheKey
	histSeq    int                // names the QUERY_HISTORY tables
	closed     bool
}

// New starts a Server on a loopback port, as httptest.NewServer does, and
// panics if it cannot (no port, no temporary directory, bad Options); use
// NewServer to get an error instead.
//
// New sets SNOWFLAKE_DISABLE_PLATFORM_DETECTION=true in the environment
// unless it is already set: the driver's platform detection would otherwise
// probe cloud metadata endpoints on the first login, which a test must not.
func New(opts Options) *Server {
	s, err := NewServer(opts)
	if err != nil {
		panic(err)
	}
	return s
}

// NewServer is New returning an error instead of panicking.
func NewServer(opts Options) (*Server, error) {
	for _, l := range []struct {
		name string
		l    Latency
	}{{"LoginLatency", opts.LoginLatency}, {"CompileLatency", opts.CompileLatency}, {"QueryLatency", opts.QueryLatency},
		{"InsertLatency", opts.InsertLatency}, {"ResumeLatency", opts.ResumeLatency}} {
		if err := l.l.validate(l.name); err != nil {
			return nil, err
		}
	}
	if err := opts.Warehouse.validate(); err != nil {
		return nil, err
	}
	if opts.DefaultWarehouse == "" {
		opts.DefaultWarehouse = DefaultWarehouse
	}
	if opts.Account == "" {
		opts.Account = DefaultAccount
	}
	if opts.Users == nil {
		opts.Users = map[string]string{DefaultUser: DefaultPassword}
	} else {
		opts.Users = maps.Clone(opts.Users)
	}
	seed := opts.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	if _, ok := os.LookupEnv("SNOWFLAKE_DISABLE_PLATFORM_DETECTION"); !ok {
		_ = os.Setenv("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")
	}

	dir, err := os.MkdirTemp("", "snowflaketest-")
	if err != nil {
		return nil, fmt.Errorf("snowflaketest: %w", err)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "snowflake.db")+
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("snowflaketest: open sqlite: %w", err)
	}
	// One connection: statements are serialized (they take microseconds;
	// the added latency is waited for outside the database), and SQLite
	// never reports a busy database.
	db.SetMaxOpenConns(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("snowflaketest: listen: %w", err)
	}
	s := &Server{
		opts:       opts,
		ln:         ln,
		served:     make(chan struct{}),
		done:       make(chan struct{}),
		db:         db,
		dir:        dir,
		rng:        mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		sessions:   make(map[string]*session),
		masters:    make(map[string]*session),
		faults:     make(map[Endpoint][]int),
		warehouses: make(map[string]*warehouse),
		cache:      make(map[string]*result),
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is the server's host (127.0.0.1).
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the server's port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Account is the account name the server answers for.
func (s *Server) Account() string { return s.opts.Account }

// DB is the SQLite database statements run on, for seeding and checking
// tables directly. It is owned by the Server: do not close it.
func (s *Server) DB() *sql.DB { return s.db }

// Config returns a driver configuration that logs in to the server as user
// with password, over plain HTTP, with every switch that keeps the driver
// off the network: OCSP checks and telemetry off, one retry per request,
// and a login retry budget of 1ms so that the driver itself never retries
// a login (retries are the caller's to test). The caller may change it.
func (s *Server) Config(user, password string) *gosnowflake.Config {
	return &gosnowflake.Config{
		Account:                   s.opts.Account,
		User:                      user,
		Password:                  password,
		Protocol:                  "http",
		Host:                      s.Host(),
		Port:                      s.Port(),
		DisableOCSPChecks:         true,
		DisableTelemetry:          true,
		DisableQueryContextCache:  true,
		ValidateDefaultParameters: gosnowflake.ConfigBoolFalse,
		LoginTimeout:              time.Millisecond,
		MaxRetryCount:             1,
		ClientTimeout:             30 * time.Second,
		Params:                    map[string]*string{},
	}
}

// DSN returns a DSN with the settings of Config. A DSN gives timeouts in
// whole seconds, so its login retry budget is one second: a failed login
// may be retried once by the driver after about a second.
func (s *Server) DSN(user, password string) string {
	cfg := s.Config(user, password)
	cfg.LoginTimeout = time.Second
	dsn, err := gosnowflake.DSN(cfg)
	if err != nil {
		// Only a region conflict makes DSN fail, and Config sets no region.
		panic("snowflaketest: " + err.Error())
	}
	return dsn
}

// Close stops the server, waits for requests in flight (their added
// latency is cut short) and removes the database. Closing twice is a no-op.
func (s *Server) Close() {
	s.closeMu.Do(func() {
		s.mu.Lock()
		s.closed = true
		for _, wh := range s.warehouses {
			if wh.timer != nil {
				wh.timer.Stop()
			}
		}
		s.mu.Unlock()
		close(s.done)
		_ = s.srv.Close()
		<-s.served
		s.handlers.Wait()
		s.db.Close()
		os.RemoveAll(s.dir)
	})
}

// FailNext answers the next n requests to ep with HTTP status and an empty
// body, before anything else is checked: 429 for a throttled login, 503 for
// a query that the driver retries. Calls add up in order.
func (s *Server) FailNext(ep Endpoint, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[ep] = append(s.faults[ep], status)
	}
}

// ExpireSessions expires every session's token: the next request of each
// session is refused with 390112 until the driver renews its token with the
// master token, as it does on its own.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		ss.expired = true
	}
}

// Counters returns a snapshot of the counters.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters
}

// Statements returns every statement that has ended so far, in order of
// arrival.
func (s *Server) Statements() []Statement {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Statement, 0, len(s.stmts))
	for _, st := range s.stmts {
		if st.done {
			out = append(out, *st)
		}
	}
	return out
}

// OpenSessions is the number of sessions logged in and not closed.
func (s *Server) OpenSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.masters)
}

// WarehouseRunning reports whether the named warehouse has been resumed
// (by ALTER WAREHOUSE or by a statement) and not suspended since.
func (s *Server) WarehouseRunning(name string) bool { return s.Warehouse(name).Running }

// ServeHTTP answers one request of the protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	ep := Endpoint(r.URL.Path)
	s.mu.Lock()
	if ep == EndpointLogin {
		s.counters.LoginAttempts++
	}
	status := 0
	if q := s.faults[ep]; len(q) > 0 {
		status, s.faults[ep] = q[0], q[1:]
		s.counters.Injected++
	}
	s.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	switch ep {
	case EndpointLogin:
		s.login(w, r)
	case EndpointQuery:
		s.query(w, r)
	case EndpointRenew:
		s.renew(w, r)
	case EndpointSession:
		s.closeSession(w, r)
	case EndpointAbort, EndpointHeartbeat, EndpointTelemetry:
		if _, ok := s.auth(w, r); !ok {
			return
		}
		s.mu.Lock()
		switch ep {
		case EndpointAbort:
			s.counters.Aborts++
		case EndpointTelemetry:
			s.counters.Telemetry++
		}
		s.mu.Unlock()
		writeJSON(w, response{Success: true})
	default:
		http.NotFound(w, r)
	}
}

// response is the envelope of every JSON answer.
type response struct {
	Data    any     `json:"data"`
	Code    *string `json:"code"`
	Message *string `json:"message"`
	Success bool    `json:"success"`
}

func failure(code, msg string, data any) response {
	return response{Data: data, Code: &code, Message: &msg}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// wait sleeps for a delay drawn from l, and reports false if the request
// or the server ended first.
func (s *Server) wait(ctx context.Context, l Latency) bool {
	d := s.draw(l)
	if d <= 0 {
		return true
	}
	return s.sleep(ctx, d)
}

func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

func (s *Server) draw(l Latency) time.Duration {
	if l.isZero() {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drawLocked(l)
}

// drawLocked is draw with s.mu held.
func (s *Server) drawLocked(l Latency) time.Duration {
	if l.isZero() {
		return 0
	}
	return l.draw(s.rng)
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newQueryID() string {
	t := newToken()
	return t[:8] + "-" + t[8:12] + "-" + t[12:16] + "-" + t[16:20] + "-" + t[20:32]
}

type loginRequest struct {
	Data struct {
		AccountName       string         `json:"ACCOUNT_NAME"`
		LoginName         string         `json:"LOGIN_NAME"`
		Password          string         `json:"PASSWORD"`
		Authenticator     string         `json:"AUTHENTICATOR"`
		SessionParameters map[string]any `json:"SESSION_PARAMETERS"`
	} `json:"data"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad login request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !s.wait(r.Context(), s.opts.LoginLatency) {
		return
	}
	d := req.Data
	if !strings.EqualFold(d.AccountName, s.opts.Account) {
		s.mu.Lock()
		s.counters.LoginsRejected++
		s.mu.Unlock()
		http.Error(w, "unknown account", http.StatusForbidden)
		return
	}
	if pw, ok := s.opts.Users[d.LoginName]; !ok || pw != d.Password || (d.Authenticator != "" && !strings.EqualFold(d.Authenticator, "SNOWFLAKE")) {
		s.mu.Lock()
		s.counters.LoginsRejected++
		s.mu.Unlock()
		writeJSON(w, failure("390100", "Incorrect username or password was specified.", nil))
		return
	}
	q := r.URL.Query()
	ss := &session{
		user:      d.LoginName,
		token:     newToken(),
		master:    newToken(),
		warehouse: normIdent(q.Get("warehouse")),
		database:  normIdent(q.Get("databaseName")),
		schema:    normIdent(q.Get("schemaName")),
		role:      normIdent(q.Get("roleName")),
		params:    make(map[string]string, len(d.SessionParameters)),
	}
	if ss.warehouse == "" {
		ss.warehouse = normIdent(s.opts.DefaultWarehouse)
	}
	for k, v := range d.SessionParameters {
		name, val := strings.ToUpper(k), fmt.Sprint(v)
		if err := checkParam(name, val); err != nil {
			writeJSON(w, failure(err.code, err.msg, nil))
			return
		}
		ss.params[name] = val
	}
	s.mu.Lock()
	s.nextID++
	ss.id = s.nextID
	s.sessions[ss.token] = ss
	s.masters[ss.master] = ss
	s.counters.Logins++
	s.mu.Unlock()
	writeJSON(w, response{Success: true, Data: map[string]any{
		"token":                   ss.token,
		"validityInSeconds":       3600,
		"masterToken":             ss.master,
		"masterValidityInSeconds": 14400,
		"sessionId":               ss.id,
		"serverVersion":           "snowflaketest",
		"parameters":              sessionParams(ss.params),
		"sessionInfo": map[string]string{
			"databaseName":  ss.database,
			"schemaName":    ss.schema,
			"warehouseName": ss.warehouse,
			"roleName":      ss.role,
		},
	}})
}

var tokenHeader = regexp.MustCompile(`^Snowflake Token="([^"]+)"$`)

// bearer returns the token of the request's Authorization header.
func bearer(r *http.Request) (string, bool) {
	m := tokenHeader.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// auth finds the request's session by its session token. When it reports
// false it has answered the request.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) (*session, bool) {
	tok, ok := bearer(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		s.counters.Unauthorized++
		http.Error(w, `missing or malformed Authorization header; want Snowflake Token="..."`, http.StatusUnauthorized)
		return nil, false
	}
	ss := s.sessions[tok]
	switch {
	case ss == nil:
		s.counters.Unauthorized++
		writeJSON(w, failure("390111", "Session no longer exists.  New login required to access the service.", nil))
		return nil, false
	case ss.expired:
		s.counters.Expired++
		writeJSON(w, failure("390112", "Your session has expired. Please login again.", nil))
		return nil, false
	}
	return ss, true
}

func (s *Server) renew(w http.ResponseWriter, r *http.Request) {
	master, ok := bearer(r)
	var req struct {
		OldSessionToken string `json:"oldSessionToken"`
		RequestType     string `json:"requestType"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !ok {
		s.mu.Lock()
		s.counters.Unauthorized++
		s.mu.Unlock()
		http.Error(w, "bad token request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.masters[master]
	if ss == nil || req.RequestType != "RENEW" || req.OldSessionToken != ss.token {
		s.counters.Unauthorized++
		writeJSON(w, failure("390104", "Master token is invalid or does not match the session token.", nil))
		return
	}
	delete(s.sessions, ss.token)
	ss.token, ss.expired = newToken(), false
	s.sessions[ss.token] = ss
	s.counters.Renewals++
	writeJSON(w, response{Success: true, Data: map[string]any{
		"sessionToken":        ss.token,
		"validityInSecondsST": 3600,
		"masterToken":         ss.master,
		"validityInSecondsMT": 14400,
		"sessionId":           ss.id,
	}})
}

func (s *Server) closeSession(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("delete") != "true" {
		http.Error(w, "only ?delete=true is supported", http.StatusBadRequest)
		return
	}
	tok, ok := bearer(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[tok]
	if !ok || ss == nil {
		s.counters.Unauthorized++
		writeJSON(w, failure("390111", "Session no longer exists.", nil))
		return
	}
	delete(s.sessions, ss.token)
	delete(s.masters, ss.master)
	s.counters.SessionsClosed++
	writeJSON(w, response{Success: true})
}

type binding struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
}

type queryRequest struct {
	SQLText    string             `json:"sqlText"`
	Bindings   map[string]binding `json:"bindings"`
	Parameters map[string]any     `json:"parameters"`
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.auth(w, r)
	if !ok {
		return
	}
	var req queryRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad query request: "+err.Error(), http.StatusBadRequest)
		return
	}
	st := s.begin(ss, req)
	res, serr := s.run(r.Context(), ss, st, req)
	var data map[string]any
	if serr == nil {
		data, serr = s.answer(ss, st, res)
	}
	s.finish(st, res, serr)
	if r.Context().Err() != nil {
		return // the client went away
	}
	if serr != nil {
		writeJSON(w, failure(serr.code, serr.msg, map[string]any{"sqlState": serr.state, "queryId": st.QueryID}))
		return
	}
	writeJSON(w, response{Success: true, Data: data})
}

// begin records a statement as it arrives, with the session's state and
// parameters and the statement's own parameters (QUERY_TAG) applied.
func (s *Server) begin(ss *session, req queryRequest) *Statement {
	k := classify(req.SQLText)
	st := &Statement{QueryID: newQueryID(), Session: ss.id, User: ss.user, SQL: req.SQLText,
		Bindings: len(req.Bindings), Kind: k.name, QueryType: queryType(req.SQLText, k), Start: time.Now()}
	s.mu.Lock()
	st.Warehouse, st.Database, st.Schema, st.Role = ss.warehouse, ss.database, ss.schema, ss.role
	st.Params = maps.Clone(ss.params)
	s.mu.Unlock()
	for k, v := range req.Parameters {
		st.Params[strings.ToUpper(k)] = fmt.Sprint(v)
	}
	st.QueryTag = st.Params["QUERY_TAG"]
	s.mu.Lock()
	s.counters.Statements++
	s.stmts = append(s.stmts, st)
	s.mu.Unlock()
	return st
}

// run takes a statement through the model: compilation, the result
// cache, the warehouse's queue, execution. The parts of its time are
// recorded on st as they end.
func (s *Server) run(ctx context.Context, ss *session, st *Statement, req queryRequest) (*result, *sqlError) {
	k := classify(req.SQLText)
	if !s.wait(ctx, s.opts.CompileLatency) {
		return nil, errCanceled
	}
	s.mu.Lock()
	st.Compilation = time.Since(st.Start)
	s.mu.Unlock()

	key, cacheable := cacheKey(k, st, req.Bindings)
	if cacheable && paramBool(st.Params["USE_CACHED_RESULT"], true) {
		s.mu.Lock()
		res := s.cachedLocked(key)
		if res != nil {
			st.CacheHit = true
			s.counters.CacheHits++
		}
		s.mu.Unlock()
		if res != nil {
			return res, nil
		}
	}

	execStart := time.Now()
	if usesWarehouse(k, req.SQLText) {
		t, err := s.acquire(ctx, st, paramSeconds(st.Params["STATEMENT_QUEUED_TIMEOUT_IN_SECONDS"]))
		s.mu.Lock()
		st.QueuedProvisioning, st.QueuedOverload = t.provisioning, t.overload
		if st.QueuedProvisioning+st.QueuedOverload > 0 {
			s.counters.Queued++
		}
		if err == nil {
			st.Cluster = t.cluster.number
		}
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		defer s.release(st, t)
		execStart = t.grantedAt
	}
	// Execution ends before the slot is handed back (defers run last in,
	// first out), so that no more statements execute than there are slots.
	defer func() {
		s.mu.Lock()
		st.Execution = time.Since(st.execStart)
		s.mu.Unlock()
	}()

	s.mu.Lock()
	st.execStart, st.Status = execStart, "RUNNING"
	timeout := paramSeconds(st.Params["STATEMENT_TIMEOUT_IN_SECONDS"])
	if wh := s.warehouses[st.Warehouse]; wh != nil {
		timeout = minPositive(timeout, wh.cfg.statementTimeout)
	}
	s.mu.Unlock()
	lat := s.opts.QueryLatency
	if k.name == "dml" {
		lat = s.opts.InsertLatency
	}
	wait, serr := systemWait(req.SQLText)
	if serr != nil {
		return nil, serr
	}
	if d := s.draw(lat) + wait; timeout > 0 && d > timeout {
		if !s.sleep(ctx, timeout) {
			return nil, errCanceled
		}
		return nil, &sqlError{code: "000630", state: "57014",
			msg: fmt.Sprintf("Statement reached its statement or warehouse timeout of %d second(s) and was canceled.", int64(timeout/time.Second))}
	} else if d > 0 && !s.sleep(ctx, d) {
		return nil, errCanceled
	}
	res, serr := s.execute(ctx, ss, k, req)
	if serr != nil {
		return nil, serr
	}
	s.mu.Lock()
	switch {
	case cacheable:
		s.storeLocked(key, res)
	case k.name == "dml" || k.name == "ddl":
		// The data may have changed: no result can be reused.
		clear(s.cache)
	}
	s.mu.Unlock()
	return res, nil
}

// answer encodes a result as the response's data: a query's rows in Arrow
// unless the session asked for JSON, anything else in JSON, as real
// accounts answer.
func (s *Server) answer(ss *session, st *Statement, res *result) (map[string]any, *sqlError) {
	format := "json"
	if res.typeID == typeSelect && !strings.EqualFold(st.Params["GO_QUERY_RESULT_FORMAT"], "JSON") {
		format = "arrow"
	}
	s.mu.Lock()
	st.Format = format
	params := sessionParams(ss.params)
	s.mu.Unlock()
	data := map[string]any{
		"parameters":         params,
		"rowtype":            res.cols,
		"total":              len(res.rows),
		"returned":           len(res.rows),
		"queryId":            st.QueryID,
		"statementTypeId":    res.typeID,
		"queryResultFormat":  format,
		"finalWarehouseName": st.Warehouse,
		"finalDatabaseName":  st.Database,
		"finalSchemaName":    st.Schema,
		"finalRoleName":      st.Role,
	}
	if format == "arrow" {
		b64, err := arrowRowset(res.cols, res.rows)
		if err != nil {
			return nil, &sqlError{code: "000603", state: "XX000", msg: "SQL execution internal error: " + err.Error()}
		}
		data["rowsetBase64"] = b64
		return data, nil
	}
	rowset := make([][]*string, len(res.rows))
	for r, row := range res.rows {
		out := make([]*string, len(row))
		for i, v := range row {
			out[i] = jsonValue(v, &res.cols[i])
		}
		rowset[r] = out
	}
	data["rowset"] = rowset
	return data, nil
}

// finish records how a statement ended.
func (s *Server) finish(st *Statement, res *result, serr *sqlError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.End = time.Now()
	st.Status = "SUCCESS"
	if serr != nil {
		st.Status, st.Code, st.Message = "FAILED_WITH_ERROR", serr.code, serr.msg
		if st.Format == "" {
			st.Format = "json"
		}
	} else {
		st.Rows = res.affected
	}
	st.done = true
}

// sessionParams is the "parameters" list of a response: the session's
// TIMEZONE, which the driver reads to decode TIMESTAMP_LTZ, when it is
// set.
func sessionParams(params map[string]string) []map[string]any {
	out := []map[string]any{}
	if tz, ok := params["TIMEZONE"]; ok {
		out = append(out, map[string]any{"name": "TIMEZONE", "value": tz})
	}
	return out
}

// paramBool reads a boolean session parameter; def when unset or not a
// boolean.
func paramBool(v string, def bool) bool {
	if b, ok := parseBool(v); ok {
		return b
	}
	return def
}

// paramSeconds reads a parameter in whole seconds; zero when unset.
func paramSeconds(v string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// minPositive is the smaller of two timeouts, where zero means none: the
// rule Snowflake states for a timeout set on both the session and the
// warehouse.
func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// checkParam validates the session parameters whose values the server
// reads, with Snowflake's error for a bad value.
func checkParam(name, value string) *sqlError {
	bad := &sqlError{code: "001008", state: "22023", msg: fmt.Sprintf("SQL compilation error:\ninvalid value [%s] for parameter '%s'", value, name)}
	switch name {
	case "GO_QUERY_RESULT_FORMAT":
		if !strings.EqualFold(value, "JSON") && !strings.EqualFold(value, "ARROW") {
			return bad
		}
	case "USE_CACHED_RESULT":
		if _, ok := parseBool(value); !ok {
			return bad
		}
	case "STATEMENT_TIMEOUT_IN_SECONDS", "STATEMENT_QUEUED_TIMEOUT_IN_SECONDS":
		if n, err := strconv.ParseInt(value, 10, 64); err != nil || n < 0 {
			return bad
		}
	}
	return nil
}

// normIdent normalizes an identifier as Snowflake does: a quoted name keeps
// its case, an unquoted one is upper-cased.
func normIdent(name string) string {
	name = strings.TrimSpace(name)
	if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
		return strings.ReplaceAll(name[1:len(name)-1], `""`, `"`)
	}
	return strings.ToUpper(name)
}
