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

	"github.com/snowflakedb/gosnowflake"
	_ "modernc.org/sqlite" // the embedded database the statements run on
)

// Credentials a Server accepts when Options.Users is nil, and the account it
// answers for when Options.Account is empty.
const (
	DefaultAccount  = "testaccount"
	DefaultUser     = "startline"
	DefaultPassword = "local-secret"
)

// Latency is a delay drawn uniformly from [Min, Max] for each request. The
// zero value adds nothing.
type Latency struct {
	Min, Max time.Duration
}

// Fixed returns a Latency of exactly d.
func Fixed(d time.Duration) Latency { return Latency{Min: d, Max: d} }

// Between returns a Latency drawn uniformly from [lo, hi].
func Between(lo, hi time.Duration) Latency { return Latency{Min: lo, Max: hi} }

func (l Latency) validate(field string) error {
	if l.Min < 0 || l.Max < l.Min {
		return fmt.Errorf("snowflaketest: Options.%s: want 0 <= Min <= Max, got Min %v, Max %v", field, l.Min, l.Max)
	}
	return nil
}

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
	// QueryLatency is added to every statement that is not DML: queries,
	// DDL, ALTER SESSION, USE.
	QueryLatency Latency
	// InsertLatency is added to DML statements (INSERT, UPDATE, DELETE,
	// MERGE) instead of QueryLatency.
	InsertLatency Latency
	// ResumeLatency is added to ALTER WAREHOUSE ... RESUME when the
	// warehouse is suspended (every warehouse starts suspended).
	ResumeLatency Latency

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
}

// Statement is one statement the server received.
type Statement struct {
	Session   int64  // the session's id
	User      string // the session's user
	SQL       string // the text as received
	Bindings  int    // number of bind parameters
	Kind      string // "select", "dml", "ddl" or "session" (handled by the server)
	Warehouse string // the session's warehouse when the statement ran
	// QueryTag is the QUERY_TAG in force: the statement's own parameter if
	// it had one, else the session's.
	QueryTag string
	// Params are the session parameters in force, with the statement's own
	// parameters applied; names upper-case.
	Params map[string]string
	Rows   int64  // rows returned or affected
	Code   string // the Snowflake error code answered, "" on success
	Start  time.Time
	End    time.Time
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
	stmts      []Statement
	faults     map[Endpoint][]int
	warehouses map[string]bool // name -> running
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
	}{{"LoginLatency", opts.LoginLatency}, {"QueryLatency", opts.QueryLatency}, {"InsertLatency", opts.InsertLatency}, {"ResumeLatency", opts.ResumeLatency}} {
		if err := l.l.validate(l.name); err != nil {
			return nil, err
		}
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
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "snowflake.db")+
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
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
		warehouses: make(map[string]bool),
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

// Statements returns every statement received so far, in order of arrival.
func (s *Server) Statements() []Statement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Statement(nil), s.stmts...)
}

// OpenSessions is the number of sessions logged in and not closed.
func (s *Server) OpenSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.masters)
}

// WarehouseRunning reports whether the named warehouse has been resumed
// (and not suspended since).
func (s *Server) WarehouseRunning(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.warehouses[normIdent(name)]
}

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
	if l.Max <= l.Min {
		return l.Min
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return l.Min + time.Duration(s.rng.Int64N(int64(l.Max-l.Min)+1))
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
	for k, v := range d.SessionParameters {
		ss.params[strings.ToUpper(k)] = fmt.Sprint(v)
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
		"parameters":              []any{},
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
	start := time.Now()
	st := Statement{Session: ss.id, User: ss.user, SQL: req.SQLText, Bindings: len(req.Bindings), Start: start}
	s.mu.Lock()
	s.counters.Statements++
	st.Warehouse = ss.warehouse
	st.Params = maps.Clone(ss.params)
	timeout, _ := strconv.Atoi(ss.params["STATEMENT_TIMEOUT_IN_SECONDS"])
	s.mu.Unlock()
	for k, v := range req.Parameters {
		st.Params[strings.ToUpper(k)] = fmt.Sprint(v)
	}
	st.QueryTag = st.Params["QUERY_TAG"]

	kind := classify(req.SQLText)
	st.Kind = kind.name
	lat := s.opts.QueryLatency
	if kind.name == "dml" {
		lat = s.opts.InsertLatency
	}
	d := s.draw(lat)
	var res *result
	var serr *sqlError
	if limit := time.Duration(timeout) * time.Second; timeout > 0 && d > limit {
		if !s.sleep(r.Context(), limit) {
			return
		}
		serr = &sqlError{code: "000630", state: "57014",
			msg: fmt.Sprintf("Statement reached its statement or warehouse timeout of %d second(s) and was canceled.", timeout)}
	} else {
		if d > 0 && !s.sleep(r.Context(), d) {
			return
		}
		res, serr = s.execute(r.Context(), ss, kind, req)
	}
	st.End = time.Now()
	qid := newQueryID()
	if serr != nil {
		st.Code = serr.code
	} else {
		st.Rows = res.rows
	}
	s.mu.Lock()
	s.stmts = append(s.stmts, st)
	s.mu.Unlock()
	if serr != nil {
		writeJSON(w, failure(serr.code, serr.msg, map[string]any{"sqlState": serr.state, "queryId": qid}))
		return
	}
	if res.rowset == nil {
		res.rowset = [][]*string{}
	}
	s.mu.Lock()
	wh := ss.warehouse
	s.mu.Unlock()
	writeJSON(w, response{Success: true, Data: map[string]any{
		"parameters":         []any{},
		"rowtype":            res.rowtype,
		"rowset":             res.rowset,
		"total":              len(res.rowset),
		"returned":           len(res.rowset),
		"queryId":            qid,
		"statementTypeId":    res.typeID,
		"queryResultFormat":  "json",
		"finalWarehouseName": wh,
	}})
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
