package natscoord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/unixns"
)

// Default option values.
const (
	// DefaultTimeout bounds one request to the server when the caller's
	// context has no deadline, and the first connection.
	DefaultTimeout = 5 * time.Second
	// DefaultReconnectWait is the pause between two reconnection attempts.
	DefaultReconnectWait = 100 * time.Millisecond
	// DefaultReconnectBuf is how many bytes of writes nats.go keeps while
	// it reconnects.
	DefaultReconnectBuf = 8 << 20
)

// Options configures a Backend.
type Options struct {
	// URL is the server (or comma-separated servers) to connect to, such
	// as nats://127.0.0.1:4222; credentials in it (nats://user:pass@host)
	// never appear in an error or a log line. Ignored when Conn is set.
	URL string
	// Conn, if set, is an open connection the Backend uses instead of
	// dialling URL; Close leaves it open. Its reconnect options are the
	// caller's, and so is reporting its gaps: a request in flight when it
	// goes away then fails only at Timeout (a connection New dials fails
	// it at once).
	Conn *nats.Conn
	// RunID is the run this backend serves. Required; see
	// coordinate.ValidRunID. The bucket, stream and subjects are derived
	// from it.
	RunID string
	// ServeClock makes this Backend the run's reference clock: it answers
	// the members' clock requests with this process's clock until Close.
	// The orchestrator's Backend sets it; a member's must not.
	ServeClock bool
	// Replicas is the number of replicas of the bucket and stream the
	// orchestrator creates. Default 1.
	Replicas int
	// Timeout bounds a request whose context has no deadline, and the
	// first connection. Default: DefaultTimeout.
	Timeout time.Duration
	// ReconnectWait is the pause between reconnection attempts. Default:
	// DefaultReconnectWait. The connection retries for ever: the kit's
	// wait timeout, through the contexts it passes, bounds a member that
	// has lost its server.
	ReconnectWait time.Duration
	// OnGap, if set, is called when a connection this Backend dialled is
	// back after a disconnect, with the instants it went away and came
	// back: a gap on the member's timeline.
	OnGap func(down, up time.Time)
	// Name is the client name the server shows (its connz). Default:
	// "startline <run id>".
	Name string
	// Logger receives this package's warnings (a disconnect, a reconnect).
	// Default: discard.
	Logger *slog.Logger
}

// Backend is a coordinate.Backend over NATS JetStream: the run's record,
// the nodes' records and their heartbeats in one key-value bucket, the
// control events in one stream (see the package documentation). It is also
// a coordinate.Clock (the orchestrator's clock, by request and reply) and a
// coordinate.Watcher (core subscriptions on the subjects the records are
// written to). It is safe for concurrent use.
type Backend struct {
	n       names
	nc      *nats.Conn
	own     bool // nc was dialled here: Close closes it
	js      jetstream.JetStream
	timeout time.Duration
	serve   bool
	repl    int
	log     *slog.Logger
	clock   *nats.Subscription
	clockNC *nats.Conn // the connection serving the clock, if dialled apart
	link    *link      // nil for a connection of the caller's

	// runRev is the highest revision of the run's record that Run read or
	// a watch's Run returned: a watch returns only a newer one.
	runRev atomic.Uint64

	mu     sync.Mutex
	kv     jetstream.KeyValue // nil until the bucket is found
	events jetstream.Stream   // nil until the stream is found
	nodes  *cache             // the orchestrator's copy of the nodes
	closed bool
}

var (
	_ coordinate.Backend = (*Backend)(nil)
	_ coordinate.Clock   = (*Backend)(nil)
	_ coordinate.Watcher = (*Backend)(nil)
)

// link is the state of a connection that this package dialled: a context
// per connected spell, cancelled at the disconnect that ends it, so that a
// request sent into a connection that then went away fails at once instead
// of waiting for a reply that the server never sends.
type link struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
}

func newLink() *link {
	l := &link{}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l
}

// spell returns the context of the current connected spell.
func (l *link) spell() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ctx
}

func (l *link) down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cancel()
}

func (l *link) up() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx.Err() != nil {
		l.ctx, l.cancel = context.WithCancel(context.Background())
	}
}

// Redact returns u with the password (or a token standing as user) of every
// URL in it replaced by "xxxxx", for errors and logs. It does not parse the
// URLs: one that does not parse is redacted too.
func Redact(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		scheme, _, user, host := splitURL(strings.TrimSpace(p))
		if user == "" {
			parts[i] = strings.TrimSpace(p)
			continue
		}
		if name, _, ok := strings.Cut(user, ":"); ok {
			parts[i] = scheme + name + ":xxxxx@" + host
		} else {
			parts[i] = scheme + "xxxxx@" + host
		}
	}
	return strings.Join(parts, ",")
}

// splitURL splits p into its scheme (with "://"), the rest, the user
// information before the last '@' of the rest, and what follows that '@'.
func splitURL(p string) (scheme, rest, user, host string) {
	rest = p
	if i := strings.Index(p, "://"); i >= 0 {
		scheme, rest = p[:i+3], p[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return scheme, rest, "", rest
	}
	return scheme, rest, rest[:at], rest[at+1:]
}

// scrub removes the credentials of the URLs in u from text, as written and
// unescaped.
func scrub(text, u string) string {
	for _, p := range strings.Split(u, ",") {
		_, _, user, _ := splitURL(strings.TrimSpace(p))
		if user == "" {
			continue
		}
		secrets := []string{user}
		if _, pw, ok := strings.Cut(user, ":"); ok {
			secrets = append(secrets, pw)
		}
		for _, s := range secrets {
			forms := []string{s}
			if un, err := url.PathUnescape(s); err == nil {
				forms = append(forms, un, url.QueryEscape(un))
			}
			for _, f := range forms {
				if len(f) >= 3 {
					text = strings.ReplaceAll(text, f, "xxxxx")
				}
			}
		}
	}
	return text
}

// New validates opts, connects (unless opts.Conn is given) and, with
// ServeClock, starts answering clock requests. It does not create the run:
// the orchestrator's first PutRun does.
func New(opts Options) (*Backend, error) {
	n, err := namesFor(opts.RunID)
	if err != nil {
		return nil, err
	}
	if opts.Replicas < 0 || opts.Replicas > 5 {
		return nil, fmt.Errorf("%w: Options.Replicas: %d, want 1-5", ErrInvalid, opts.Replicas)
	}
	b := &Backend{n: n, timeout: opts.Timeout, serve: opts.ServeClock, repl: max(opts.Replicas, 1), log: opts.Logger}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if opts.Conn != nil {
		b.nc = opts.Conn
	} else {
		if opts.URL == "" {
			return nil, fmt.Errorf("%w: Options.URL or Options.Conn is required", ErrInvalid)
		}
		b.link = newLink()
		b.nc, err = connect(opts.URL, ConnectOptions{Name: cmpOr(opts.Name, "startline "+opts.RunID), Timeout: b.timeout,
			ReconnectWait: opts.ReconnectWait, OnGap: opts.OnGap, Logger: b.log}, b.link)
		if err != nil {
			return nil, err
		}
		b.own = true
	}
	b.js, err = jetstream.New(b.nc)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("natscoord: %w", err)
	}
	if b.serve {
		// The clock is served on a connection of its own when this
		// Backend dials: the heartbeats and node writes the orchestrator
		// watches on its connection would otherwise queue the members'
		// clock requests, and a reading that waited is a wider bound.
		cnc := b.nc
		if b.own {
			b.clockNC, err = connect(opts.URL, ConnectOptions{Name: cmpOr(opts.Name, "startline "+opts.RunID) + " clock",
				Timeout: b.timeout, ReconnectWait: opts.ReconnectWait, Logger: b.log}, nil)
			if err != nil {
				b.Close()
				return nil, err
			}
			cnc = b.clockNC
		}
		b.clock, err = cnc.Subscribe(n.clock, func(m *nats.Msg) {
			_ = m.Respond(strconv.AppendInt(nil, time.Now().UnixNano(), 10))
		})
		if err == nil {
			err = cnc.FlushTimeout(b.timeout)
		}
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("natscoord: serving the clock of run %q: %w", n.run, err)
		}
	}
	return b, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ConnectOptions configures Connect.
type ConnectOptions struct {
	// Name is the client name. Default: "startline".
	Name string
	// Timeout bounds the first connection. Default: DefaultTimeout.
	Timeout time.Duration
	// ReconnectWait: see Options.ReconnectWait.
	ReconnectWait time.Duration
	// OnGap: see Options.OnGap.
	OnGap func(down, up time.Time)
	// Logger receives a line at each disconnect and reconnect.
	Logger *slog.Logger
}

// Connect dials url with the reconnect behaviour a member needs: it retries
// for ever (the kit's contexts bound the waits), buffers
// DefaultReconnectBuf bytes of writes meanwhile, and reports each gap. The
// error never holds the URL's credentials.
func Connect(u string, o ConnectOptions) (*nats.Conn, error) { return connect(u, o, nil) }

func connect(u string, o ConnectOptions, l *link) (*nats.Conn, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var mu sync.Mutex
	var down time.Time
	opts := []nats.Option{
		nats.Name(cmpOr(o.Name, "startline")),
		nats.Timeout(cmpDur(o.Timeout, DefaultTimeout)),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cmpDur(o.ReconnectWait, DefaultReconnectWait)),
		nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond),
		nats.ReconnectBufSize(DefaultReconnectBuf),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // closed by its owner, not lost
			}
			if l != nil {
				l.down()
			}
			mu.Lock()
			down = time.Now()
			mu.Unlock()
			log.Warn("natscoord: disconnected from the server; reconnecting", "url", Redact(u), "err", errText(err, u))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			up := time.Now()
			if l != nil {
				l.up()
			}
			mu.Lock()
			d := down
			mu.Unlock()
			log.Warn("natscoord: reconnected", "url", Redact(u), "gap", up.Sub(d).String())
			if o.OnGap != nil && !d.IsZero() {
				o.OnGap(d, up)
			}
		}),
	}
	nc, err := nats.Connect(u, opts...)
	if err != nil {
		return nil, fmt.Errorf("natscoord: connecting to %s: %s", Redact(u), errText(err, u))
	}
	return nc, nil
}

func errText(err error, u string) string {
	if err == nil {
		return ""
	}
	return scrub(err.Error(), u)
}

func cmpDur(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

// Name returns "nats".
func (b *Backend) Name() string { return "nats" }

// Conn returns the connection the Backend uses.
func (b *Backend) Conn() *nats.Conn { return b.nc }

// Close stops serving the clock and the orchestrator's copy of the nodes,
// and closes the connection if New dialled it. It is safe to call more than
// once.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	c := b.nodes
	b.nodes = nil
	b.mu.Unlock()
	if c != nil {
		c.stop()
	}
	if b.clock != nil {
		_ = b.clock.Unsubscribe()
	}
	if b.clockNC != nil {
		b.clockNC.Close()
	}
	if b.own && b.nc != nil {
		b.nc.Close()
	}
	return nil
}

// Drop deletes the run's bucket, stream and results (for tests and for
// cleaning up a finished run on a shared server). It stops the copy of the
// nodes first: its consumer would otherwise try to come back.
func (b *Backend) Drop(ctx context.Context) error {
	b.mu.Lock()
	c := b.nodes
	b.nodes = nil
	b.mu.Unlock()
	if c != nil {
		c.stop()
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	var errs []error
	for _, del := range []func() error{
		func() error { return b.js.DeleteKeyValue(ctx, b.n.bucket) },
		func() error { return b.js.DeleteStream(ctx, b.n.stream) },
		func() error { return b.js.DeleteObjectStore(ctx, b.n.results) },
		func() error { return b.js.DeleteStream(ctx, b.n.records) },
	} {
		if err := del(); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, err)
		}
	}
	b.mu.Lock()
	b.kv, b.events = nil, nil
	b.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("natscoord: dropping run %q: %w", b.n.run, err)
	}
	return nil
}

// bound waits, within ctx (or the Backend's timeout if ctx has no
// deadline), for a connection that is reconnecting, and returns the
// context for the request that follows: ctx cut off at the Backend's
// timeout. A request sent as the server went away is lost, and its reply
// would never come: the cut-off makes it one failed read, and the next
// waits for the connection again. So a member whose server is gone keeps
// waiting as long as ctx allows (for Wait, the kit's wait timeout).
func (b *Backend) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if !b.connected() {
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if _, ok := ctx.Deadline(); !ok {
			wctx, cancel = context.WithTimeout(ctx, b.timeout)
		}
		t := time.NewTicker(5 * time.Millisecond)
		for !b.connected() && !b.nc.IsClosed() && wctx.Err() == nil {
			select {
			case <-wctx.Done():
			case <-t.C:
			}
		}
		t.Stop()
		cancel()
	}
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	if b.link == nil {
		return rctx, cancel
	}
	stop := context.AfterFunc(b.link.spell(), cancel)
	return rctx, func() { stop(); cancel() }
}

// connected reports whether the connection is up (and, for one dialled
// here, its reconnect handled).
func (b *Backend) connected() bool {
	if b.link != nil && b.link.spell().Err() != nil {
		return false
	}
	return b.nc.IsConnected()
}

// bucket returns the run's bucket, ErrNoRun if it does not exist.
func (b *Backend) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	kv := b.kv
	b.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	kv, err := b.js.KeyValue(ctx, b.n.bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: %q (no bucket %s)", coordinate.ErrNoRun, b.n.run, b.n.bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("natscoord: opening bucket %s: %w", b.n.bucket, err)
	}
	b.mu.Lock()
	b.kv = kv
	b.mu.Unlock()
	return kv, nil
}

// stream returns the run's event stream, ErrNoRun if it does not exist.
func (b *Backend) stream(ctx context.Context) (jetstream.Stream, error) {
	b.mu.Lock()
	s := b.events
	b.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := b.js.Stream(ctx, b.n.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: %q (no stream %s)", coordinate.ErrNoRun, b.n.run, b.n.stream)
	}
	if err != nil {
		return nil, fmt.Errorf("natscoord: opening stream %s: %w", b.n.stream, err)
	}
	b.mu.Lock()
	b.events = s
	b.mu.Unlock()
	return s, nil
}

// create creates the run's bucket and stream (or opens them if they exist).
func (b *Backend) create(ctx context.Context) (jetstream.KeyValue, error) {
	// Every stored write of the run's key is republished, with its
	// revision, on the subject the members' watches listen to (Watch).
	kv, err := b.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b.n.bucket, History: 1,
		Description: "startline run " + b.n.run, Storage: jetstream.FileStorage, Replicas: b.repl,
		RePublish: &jetstream.RePublish{Source: "$KV." + b.n.bucket + "." + runKey, Destination: b.n.runRec}})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = b.js.KeyValue(ctx, b.n.bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("natscoord: creating bucket %s: %w", b.n.bucket, err)
	}
	s, err := b.js.CreateStream(ctx, jetstream.StreamConfig{Name: b.n.stream, Subjects: []string{b.n.events},
		Description: "startline run " + b.n.run + ": control events", Storage: jetstream.FileStorage, Replicas: b.repl})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		s, err = b.js.Stream(ctx, b.n.stream)
	}
	if err != nil {
		return nil, fmt.Errorf("natscoord: creating stream %s: %w", b.n.stream, err)
	}
	b.mu.Lock()
	b.kv, b.events = kv, s
	b.mu.Unlock()
	return kv, nil
}

// runJSON is the run's record as stored under key "run". Want, Expect and
// Concurrency are kept raw and decoded one by one, so that a bad one sets
// Bad instead of failing the read.
type runJSON struct {
	Status      string          `json:"status"`
	Want        json.RawMessage `json:"want,omitempty"`
	Expect      json.RawMessage `json:"expect,omitempty"`
	Concurrency json.RawMessage `json:"concurrency,omitempty"`
	Created     int64           `json:"created_ns,omitempty"`
	Published   int64           `json:"published_ns,omitempty"`
	At          int64           `json:"at_ns,omitempty"`
	StartSeq    int64           `json:"start_seq,omitempty"`
	Reason      string          `json:"reason,omitempty"`
}

func encodeRun(r coordinate.RunRecord) []byte {
	j := runJSON{Status: string(r.Status), Created: unixns.Of(r.Created), Published: unixns.Of(r.Published), At: unixns.Of(r.At),
		StartSeq: r.StartSeq, Reason: r.Reason}
	j.Want, _ = json.Marshal(r.Want)
	j.Concurrency, _ = json.Marshal(r.Concurrency)
	if len(r.Expect) > 0 {
		j.Expect, _ = json.Marshal(r.Expect)
	}
	data, _ := json.Marshal(j) // plain values: cannot fail
	return data
}

func decodeRun(data []byte) (coordinate.RunRecord, error) {
	var j runJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return coordinate.RunRecord{}, fmt.Errorf("the run's record is not what natscoord writes: %w", clip(err))
	}
	r := coordinate.RunRecord{Status: coordinate.RunStatus(j.Status), Created: unixns.Time(j.Created), Published: unixns.Time(j.Published),
		At: unixns.Time(j.At), StartSeq: j.StartSeq, Reason: j.Reason}
	var bad []error
	if len(j.Want) > 0 {
		if err := json.Unmarshal(j.Want, &r.Want); err != nil || r.Want < 0 {
			r.Want = 0
			bad = append(bad, fmt.Errorf("want: %s is not a count", clipRaw(j.Want)))
		}
	}
	if len(j.Concurrency) > 0 {
		if err := json.Unmarshal(j.Concurrency, &r.Concurrency); err != nil {
			r.Concurrency = 0
			bad = append(bad, fmt.Errorf("concurrency: %s is not an integer", clipRaw(j.Concurrency)))
		}
	}
	if len(j.Expect) > 0 && string(j.Expect) != "null" {
		if err := json.Unmarshal(j.Expect, &r.Expect); err != nil {
			r.Expect = nil
			bad = append(bad, fmt.Errorf("expect: not a JSON list of IDs: %w", clip(err)))
		}
	}
	r.Bad = errors.Join(bad...)
	return r, nil
}

// clip keeps an error's text short: a decoding error may quote a hostile
// value.
func clip(err error) error {
	if s := err.Error(); len(s) > 200 {
		return errors.New(s[:200] + "...")
	}
	return err
}

func clipRaw(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "..."
	}
	return string(raw)
}

// PutRun implements coordinate.RunStore: creating the run creates its
// bucket and stream and the key "run" (kv.Create, so that a second
// orchestrator of the same run id gets ErrRunExists); a replacement is a
// kv.Update at the revision whose status was read as from.
func (b *Backend) PutRun(ctx context.Context, r coordinate.RunRecord, from coordinate.RunStatus) error {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	data := encodeRun(r)
	if from == "" {
		kv, err := b.create(ctx)
		if err != nil {
			return err
		}
		if _, err := kv.Create(ctx, runKey, data); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("%w: %q", coordinate.ErrRunExists, b.n.run)
			}
			return fmt.Errorf("natscoord: creating run %q: %w", b.n.run, err)
		}
		return nil
	}
	kv, err := b.bucket(ctx)
	if err != nil {
		return err
	}
	for {
		e, err := kv.Get(ctx, runKey)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("%w: %q", coordinate.ErrNoRun, b.n.run)
		}
		if err != nil {
			return fmt.Errorf("natscoord: reading run %q: %w", b.n.run, err)
		}
		cur, derr := decodeRun(e.Value())
		if derr != nil || cur.Status != from {
			st := string(cur.Status)
			if derr != nil {
				st = "unreadable"
			}
			return fmt.Errorf("%w: run %q is %s, not %s", coordinate.ErrConflict, b.n.run, st, from)
		}
		_, err = kv.Update(ctx, runKey, data, e.Revision())
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("natscoord: writing run %q: %w", b.n.run, err)
		}
		// Written meanwhile: read the new status and decide again.
	}
}

// Run implements coordinate.RunStore with one kv.Get.
func (b *Backend) Run(ctx context.Context) (coordinate.RunRecord, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	r, _, err := b.readRun(ctx)
	return r, err
}

func (b *Backend) readRun(ctx context.Context) (coordinate.RunRecord, uint64, error) {
	kv, err := b.bucket(ctx)
	if err != nil {
		return coordinate.RunRecord{}, 0, err
	}
	e, err := kv.Get(ctx, runKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return coordinate.RunRecord{}, 0, fmt.Errorf("%w: %q", coordinate.ErrNoRun, b.n.run)
	}
	if err != nil {
		return coordinate.RunRecord{}, 0, fmt.Errorf("natscoord: reading run %q: %w", b.n.run, err)
	}
	r, err := decodeRun(e.Value())
	if err != nil {
		return r, 0, fmt.Errorf("natscoord: reading run %q: %w", b.n.run, err)
	}
	b.advance(e.Revision())
	return r, e.Revision(), nil
}

// eventJSON is a control event as published on the events subject. Its Seq
// is the stream's sequence, which the server assigns.
type eventJSON struct {
	Kind        string `json:"kind"`
	Concurrency int64  `json:"concurrency,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Created     int64  `json:"created_ns,omitempty"`
}

// AddEvent implements coordinate.RunStore: it publishes e on the run's
// events subject and returns the sequence the stream stored it under. The
// server assigns it, one above the last message of the stream: a hostile
// publisher can add junk, but cannot choose the numbering.
func (b *Backend) AddEvent(ctx context.Context, e coordinate.EventRecord) (int64, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	data, _ := json.Marshal(eventJSON{Kind: string(e.Kind), Concurrency: e.Concurrency, Reason: e.Reason, Created: unixns.Of(e.Created)})
	ack, err := b.js.Publish(ctx, b.n.events, data, jetstream.WithExpectStream(b.n.stream))
	if err != nil {
		return 0, fmt.Errorf("natscoord: publishing a %s event of run %q: %w", e.Kind, b.n.run, err)
	}
	return int64(ack.Sequence), nil
}

// maxEvents bounds how many events one Events call reads: the rest come at
// the next call.
const maxEvents = 1000

// Events implements coordinate.RunStore: one stream info (its last
// sequence), then one get per sequence above after. A message that is not
// an event natscoord wrote is returned with Bad set and Raw naming its
// sequence.
func (b *Backend) Events(ctx context.Context, after int64) ([]coordinate.EventRecord, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	s, err := b.stream(ctx)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("natscoord: reading the events of run %q: %w", b.n.run, err)
	}
	first, last := uint64(max(after, 0))+1, info.State.LastSeq
	first = max(first, info.State.FirstSeq)
	var out []coordinate.EventRecord
	for seq := first; seq <= last && len(out) < maxEvents; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted
		}
		if err != nil {
			return out, fmt.Errorf("natscoord: reading event %d of run %q: %w", seq, b.n.run, err)
		}
		out = append(out, decodeEvent(int64(seq), m.Data))
	}
	return out, nil
}

func decodeEvent(seq int64, data []byte) coordinate.EventRecord {
	var j eventJSON
	e := coordinate.EventRecord{Seq: seq}
	if err := json.Unmarshal(data, &j); err != nil {
		e.Bad, e.Raw = fmt.Errorf("not an event natscoord writes: %w", clip(err)), strconv.FormatInt(seq, 10)
		return e
	}
	e.Kind, e.Concurrency, e.Reason, e.Created = coordinate.EventKind(j.Kind), j.Concurrency, j.Reason, unixns.Time(j.Created)
	return e
}

// nodeJSON is a node's record as stored under its key node.<id>.
type nodeJSON struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Phase       string `json:"phase,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
	Joined      int64  `json:"joined_ns,omitempty"`
	Ready       int64  `json:"ready_ns,omitempty"`
	Beat        int64  `json:"beat_ns,omitempty"`
	Seen        int64  `json:"seen_ns,omitempty"`
	ClockOffset int64  `json:"clock_offset_ns,omitempty"`
	ClockError  int64  `json:"clock_error_ns,omitempty"`
	Err         string `json:"err,omitempty"`
}

func encodeNode(n coordinate.NodeRecord) []byte {
	j := nodeJSON{ID: n.ID, Status: string(n.Status), Phase: n.Phase, Concurrency: n.Concurrency, Joined: unixns.Of(n.Joined),
		Ready: unixns.Of(n.Ready), Beat: unixns.Of(n.Beat), Seen: unixns.Of(n.Seen), ClockOffset: int64(n.ClockOffset), ClockError: int64(n.ClockError)}
	if n.Err != nil {
		j.Err = n.Err.Error()
	}
	data, _ := json.Marshal(j)
	return data
}

// decodeNode decodes the record stored under the key of node id.
func decodeNode(id string, data []byte) coordinate.NodeRecord {
	var j nodeJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return coordinate.NodeRecord{ID: id, Bad: fmt.Errorf("not a node record natscoord writes: %w", clip(err))}
	}
	n := coordinate.NodeRecord{ID: id, Status: coordinate.Status(j.Status), Phase: j.Phase, Concurrency: j.Concurrency,
		Joined: unixns.Time(j.Joined), Ready: unixns.Time(j.Ready), Beat: unixns.Time(j.Beat), Seen: unixns.Time(j.Seen),
		ClockOffset: time.Duration(j.ClockOffset), ClockError: time.Duration(j.ClockError)}
	if j.ID != id {
		n.Bad = fmt.Errorf("the record under the key of %q names node %q", id, clipRaw([]byte(j.ID)))
	}
	if j.Err != "" {
		n.Err = errors.New(j.Err)
	}
	return n
}

// PutNode implements coordinate.NodeStore. Every write but NodeBeat is a
// compare and set on the node's key (read, change the fields w names,
// kv.Update at the revision read, again if it moved meanwhile), so that a
// member's write and the orchestrator's NodeLost cannot undo each other.
// NodeBeat writes only the node's beat key: a beat never overwrites a
// state.
func (b *Backend) PutNode(ctx context.Context, n coordinate.NodeRecord, w coordinate.NodeWrite) error {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	kv, err := b.bucket(ctx)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		return fmt.Errorf("natscoord: node %q of run %q: %w", n.ID, b.n.run, err)
	}
	key := nodeKey(n.ID)
	switch w {
	case coordinate.NodeJoin:
		if _, err := kv.Create(ctx, key, encodeNode(n)); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("%w: %q", coordinate.ErrDuplicate, n.ID)
			}
			return fail(err)
		}
		return nil
	case coordinate.NodeBeat:
		if _, err := kv.Put(ctx, beatKey(n.ID), strconv.AppendInt(nil, unixns.Of(n.Beat), 10)); err != nil {
			return fail(err)
		}
		return nil
	case coordinate.NodeReady, coordinate.NodeState, coordinate.NodeLost:
	default:
		return fmt.Errorf("%w: NodeWrite %d", ErrInvalid, w)
	}
	for {
		e, err := kv.Get(ctx, key)
		if err != nil {
			return fail(err)
		}
		old := decodeNode(n.ID, e.Value())
		cur := old
		switch w {
		case coordinate.NodeReady:
			cur.Status, cur.Phase, cur.Ready, cur.Beat = n.Status, n.Phase, n.Ready, n.Beat
		case coordinate.NodeState:
			cur.Status, cur.Phase, cur.Ready, cur.Seen, cur.Beat, cur.Err = n.Status, n.Phase, n.Ready, n.Seen, n.Beat, n.Err
		case coordinate.NodeLost:
			if final(cur.Status) {
				return fmt.Errorf("%w: node %q has left", coordinate.ErrConflict, n.ID)
			}
			cur.Status = coordinate.StatusLost
		}
		cur.Bad = nil
		rev, err := kv.Update(ctx, key, encodeNode(cur), e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // written meanwhile (the orchestrator's NodeLost): read again
		}
		if err != nil {
			return fail(err)
		}
		if w != coordinate.NodeReady {
			return nil
		}
		return b.checkReady(ctx, kv, key, e.Value(), rev, n.ID)
	}
}

// checkReady decides whether the ready write at revision rev came while the
// run was still WAITING. The run's key and the node's share the bucket, so
// their revisions are sequences of one stream, the backend's order of
// writes: reading the run after the ready write gives its latest record and
// that record's revision. If it is WAITING, the run waited when the write
// happened (a run never returns to WAITING). If it is STARTED at a revision
// above rev, the start was published after the ready write: the node was
// ready first. Otherwise (started or aborted before the write, or aborted
// after it) the write came too late: it is undone (compare and set at rev,
// so that nothing written meanwhile is lost) and the call fails with
// ErrConflict.
func (b *Backend) checkReady(ctx context.Context, kv jetstream.KeyValue, key string, prev []byte, rev uint64, id string) error {
	r, runRev, err := b.readRun(ctx)
	if err != nil {
		return err
	}
	if r.Status == coordinate.RunWaiting || r.Status == coordinate.RunStarted && runRev > rev {
		return nil
	}
	_, _ = kv.Update(ctx, key, prev, rev)
	return fmt.Errorf("%w: run %q no longer waits (%s)", coordinate.ErrConflict, b.n.run, r.Status)
}

func final(s coordinate.Status) bool {
	return s == coordinate.StatusDone || s == coordinate.StatusFailed || s == coordinate.StatusLost
}

// Nodes implements coordinate.NodeStore from a copy of the bucket that an
// ordered consumer keeps up to date (started at the first call): each call
// costs one stream info (the bucket's last revision), then waits, bounded
// by ctx, until the copy holds that revision. A thousand nodes are one
// round trip, not a thousand.
func (b *Backend) Nodes(ctx context.Context) ([]coordinate.NodeRecord, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	c, err := b.cache(ctx)
	if err != nil {
		return nil, err
	}
	info, err := c.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("natscoord: reading the nodes of run %q: %w", b.n.run, err)
	}
	if err := c.await(ctx, info.State.LastSeq); err != nil {
		return nil, fmt.Errorf("natscoord: reading the nodes of run %q: %w", b.n.run, err)
	}
	return c.snapshot(), nil
}

// cache returns the Backend's copy of the nodes, starting it at first use.
func (b *Backend) cache(ctx context.Context) (*cache, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("natscoord: run %q: the backend is closed", b.n.run)
	}
	if b.nodes != nil {
		return b.nodes, nil
	}
	b.mu.Unlock()
	if _, err := b.bucket(ctx); err != nil {
		b.mu.Lock()
		return nil, err
	}
	c, err := startCache(ctx, b.js, b.n.bucket)
	b.mu.Lock()
	if err != nil {
		return nil, fmt.Errorf("natscoord: watching the nodes of run %q: %w", b.n.run, err)
	}
	if b.nodes != nil || b.closed { // another call won, or Close came
		c.stop()
		if b.closed {
			return nil, fmt.Errorf("natscoord: run %q: the backend is closed", b.n.run)
		}
		return b.nodes, nil
	}
	b.nodes = c
	return c, nil
}

// ReadClock implements coordinate.Clock. The Backend that serves the clock
// reads this process's clock (resolution 0: the reading is exact and local);
// another sends a request on the run's clock subject, and the orchestrator's
// Backend answers with its time.Now in Unix nanoseconds. The resolution
// said is a microsecond: the nanosecond figure is finer than what most
// platforms' wall clocks resolve.
func (b *Backend) ReadClock(ctx context.Context) (time.Time, time.Duration, error) {
	if b.serve {
		return time.Now(), 0, nil
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	m, err := b.nc.RequestWithContext(ctx, b.n.clock, nil)
	if errors.Is(err, nats.ErrNoResponders) {
		return time.Time{}, 0, fmt.Errorf("natscoord: reading the clock of run %q: no orchestrator serves it on %s", b.n.run, b.n.clock)
	}
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("natscoord: reading the clock of run %q: %w", b.n.run, err)
	}
	v, err := strconv.ParseInt(string(m.Data), 10, 64)
	if err != nil || v <= 0 {
		return time.Time{}, 0, fmt.Errorf("natscoord: reading the clock of run %q: the reply %q is not a time", b.n.run, clipRaw(m.Data))
	}
	return time.Unix(0, v), time.Microsecond, nil
}

// Watch implements coordinate.Watcher with a core subscription on the
// subject the records are written to: the events' subject, the nodes' keys
// (not their beats); for the run's record, the subject the bucket's stream
// republishes each write of it on once stored, with its revision, so that
// the wake-up carries the record (coordinate.RunCarrier) and a member need
// not read it. A wake-up that the subscription misses (during a reconnect)
// costs a poll interval.
func (b *Backend) Watch(ctx context.Context, topic coordinate.Topic) (coordinate.Subscription, error) {
	w := &watch{c: make(chan struct{}, 1)}
	var subj string
	var handler nats.MsgHandler
	var out coordinate.Subscription = w
	switch topic {
	case coordinate.TopicRun:
		rw := &runWatch{watch: w, b: b}
		subj, handler, out = b.n.runRec, rw.take, rw
	case coordinate.TopicEvents:
		subj = b.n.events
	case coordinate.TopicNodes:
		subj = "$KV." + b.n.bucket + ".node.>"
	default:
		return nil, nil
	}
	if handler == nil {
		w.echo = time.AfterFunc(time.Hour, w.wake)
		w.echo.Stop()
		handler = func(*nats.Msg) {
			w.wake()
			// A core subscriber can hear a write before the stream has
			// stored it (the stream takes it from its own queue), and a
			// read made at once may miss it: wake the reader again a
			// little later.
			w.echo.Reset(echoAfter)
		}
	}
	sub, err := b.nc.Subscribe(subj, handler)
	if err != nil {
		return nil, fmt.Errorf("natscoord: watching %s: %w", subj, err)
	}
	// The subscription is live once the server has it.
	ctx, cancel := b.bound(ctx)
	defer cancel()
	if err := b.nc.FlushWithContext(ctx); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("natscoord: watching %s: %w", subj, err)
	}
	w.sub = sub
	return out, nil
}

// echoAfter is how long after a wake-up a watch wakes its reader again.
const echoAfter = 10 * time.Millisecond

// watch is one Watch: a core subscription whose handler coalesces.
type watch struct {
	c    chan struct{}
	sub  *nats.Subscription
	echo *time.Timer // the second wake-up, echoAfter after the last; nil for none
	once sync.Once
}

func (w *watch) C() <-chan struct{} { return w.c }

func (w *watch) wake() {
	select {
	case w.c <- struct{}{}:
	default: // a wake-up is pending
	}
}

// Close unsubscribes; the handler runs in nats.go's delivery goroutine of
// the subscription, which ends with it.
func (w *watch) Close() error {
	w.once.Do(func() {
		_ = w.sub.Unsubscribe()
		if w.echo != nil {
			w.echo.Stop()
		}
	})
	return nil
}

// runWatch is the watch of the run's record: it keeps the latest record the
// bucket's stream republished (stored, at its revision) for Run.
type runWatch struct {
	*watch
	b *Backend

	mu  sync.Mutex
	rec coordinate.RunRecord
	rev uint64 // 0: none kept
}

var _ coordinate.RunCarrier = (*runWatch)(nil)

// take keeps the record of a republished write and wakes the reader. A
// deletion, or a message without a revision or with a value that does not
// decode, is not kept: the reader reads the record (and meets the error)
// itself.
func (w *runWatch) take(m *nats.Msg) {
	defer w.wake()
	rev, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil || rev == 0 || m.Header.Get("KV-Operation") != "" {
		return
	}
	r, err := decodeRun(m.Data)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if rev > w.rev {
		w.rec, w.rev = r, rev
	}
}

// Run implements coordinate.RunCarrier: the latest republished record, if
// its revision is above every one the Backend returned before (by Run or
// by a watch); otherwise false, and the kit reads the record.
func (w *runWatch) Run() (coordinate.RunRecord, bool) {
	w.mu.Lock()
	r, rev := w.rec, w.rev
	w.mu.Unlock()
	if rev == 0 || !w.b.advance(rev) {
		return coordinate.RunRecord{}, false
	}
	return r, true
}

// advance raises the highest revision of the run's record returned to rev,
// and reports whether rev was above it.
func (b *Backend) advance(rev uint64) bool {
	for {
		cur := b.runRev.Load()
		if rev <= cur {
			return false
		}
		if b.runRev.CompareAndSwap(cur, rev) {
			return true
		}
	}
}
