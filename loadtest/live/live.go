package live

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sync"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/report"
)

// Node is one node of the fleet as the page shows it.
type Node struct {
	Name string `json:"name"`
	// State is the node's state as its coordinator reports it: WAITING,
	// READY, RUNNING, DONE, FAILED, LOST...
	State string `json:"state"`
	// Phase is the phase it is in, if known: the one it last reported
	// to its coordinator, or (examples/distributed) while it runs, the
	// phase of the latest interval it streamed (LiveMerge.Phase), which
	// says when its warmup gave way to the measured window.
	Phase string `json:"phase,omitempty"`
}

// subQueue bounds the events waiting for one page.
const subQueue = 256

// event is one server-sent event.
type event struct {
	name string
	data []byte
}

// Server serves the live page of one run. Its methods are safe for
// concurrent use; the zero value is not: use New.
type Server struct {
	runID string

	mu        sync.Mutex
	nodes     []Node
	intervals [][]byte // encoded FleetIntervals, in order
	waterfall []byte   // the fragment
	wfEvent   []byte   // the fragment as a JSON string
	result    []byte   // encoded final result; nil until Done
	report    []byte
	subs      map[chan event]struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

// New returns a Server for run runID, with nothing to show yet.
func New(runID string) *Server {
	return &Server{runID: runID, subs: map[chan event]struct{}{}, closed: make(chan struct{})}
}

// Nodes sets the nodes and their states.
func (s *Server) Nodes(nodes []Node) {
	b, _ := json.Marshal(nodes) // plain data: cannot fail
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Equal(nodes, s.nodes) {
		return
	}
	s.nodes = slices.Clone(nodes)
	s.publish(event{"nodes", b})
}

// Interval adds one fleet interval (see loadtest.LiveOptions.OnInterval).
func (s *Server) Interval(fi loadtest.FleetInterval) {
	b, err := json.Marshal(fi)
	if err != nil {
		return // a NaN statistic: nothing a chart can draw
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.intervals = append(s.intervals, b)
	s.publish(event{"interval", b})
}

// Timeline redraws the startup waterfall from res, a merged result still
// forming (see report.WriteFleetHTML for what it needs).
func (s *Server) Timeline(res *loadtest.Result) error {
	var buf bytes.Buffer
	if err := report.WriteFleetHTML(&buf, res); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.Equal(buf.Bytes(), s.waterfall) {
		return nil
	}
	s.waterfall = buf.Bytes()
	s.wfEvent, _ = json.Marshal(buf.String()) // one line, as an event's data must be
	s.publish(event{"waterfall", s.wfEvent})
	return nil
}

// Done sets the final result: /result.json and /report serve it, the
// waterfall becomes its fleet view, and every page is told.
func (s *Server) Done(res *loadtest.Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("live: encoding the result: %w", err)
	}
	var rep bytes.Buffer
	if err := report.WriteHTML(&rep, res); err != nil {
		return err
	}
	if err := s.Timeline(res); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.result, s.report = b, rep.Bytes()
	s.publish(event{"done", []byte("{}")})
	return nil
}

// Close ends every event stream, so that an http.Server's Shutdown does
// not wait for them; pages that reconnect are refused.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// publish sends e to every page; a page whose queue is full is dropped (it
// reconnects and gets the state afresh). s.mu is held.
func (s *Server) publish(e event) {
	for c := range s.subs {
		select {
		case c <- e:
		default:
			delete(s.subs, c)
			close(c)
		}
	}
}

// subscribe returns a queue that holds the state so far, and then every
// change.
func (s *Server) subscribe() chan event {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(chan event, subQueue+len(s.intervals)+4)
	c <- event{"reset", []byte("{}")} // a page that reconnects starts afresh
	b, _ := json.Marshal(s.nodes)
	c <- event{"nodes", b}
	for _, iv := range s.intervals {
		c <- event{"interval", iv}
	}
	if s.wfEvent != nil {
		c <- event{"waterfall", s.wfEvent}
	}
	if s.result != nil {
		c <- event{"done", []byte("{}")}
	}
	s.subs[c] = struct{}{}
	return c
}

func (s *Server) unsubscribe(c chan event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[c]; ok {
		delete(s.subs, c)
		close(c)
	}
}

// ServeHTTP serves the page and its resources (see the package doc).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/":
		s.page(w)
	case "/events":
		s.events(w, r)
	case "/waterfall":
		s.mu.Lock()
		b := s.waterfall
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
	case "/result.json":
		s.final(w, "application/json", func() []byte { return s.result })
	case "/report":
		s.final(w, "text/html; charset=utf-8", func() []byte { return s.report })
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) final(w http.ResponseWriter, ctype string, get func() []byte) {
	s.mu.Lock()
	b := get()
	s.mu.Unlock()
	if b == nil {
		http.Error(w, "the run has not ended", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func (s *Server) page(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// Nothing from elsewhere: the page's own script and styles only.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:")
	_ = pageTmpl.Execute(w, struct{ RunID string }{s.runID})
}

// events streams the state and its changes as server-sent events until
// the page leaves, the server closes, or the page falls behind.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	select {
	case <-s.closed:
		http.Error(w, "the live page has closed", http.StatusServiceUnavailable)
		return
	default:
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	c := s.subscribe()
	defer s.unsubscribe(c)
	fmt.Fprint(w, "retry: 1000\n\n")
	fl.Flush()
	for {
		select {
		case e, ok := <-c:
			if !ok {
				return // fell behind: it reconnects
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.name, e.data)
			if len(c) == 0 {
				fl.Flush()
			}
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		}
	}
}

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))
