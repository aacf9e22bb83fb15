package loadtest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sinktest"
)

// lockedBuffer is a bytes.Buffer that many goroutines may write to, as an
// os.File may be written to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func TestJSONSinkConformance(t *testing.T) {
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T) loadtest.Sink { return loadtest.JSONSink{W: new(lockedBuffer)} },
		Read: func(t *testing.T, s loadtest.Sink, runID, node string) []sinktest.Record {
			dec := json.NewDecoder(bytes.NewReader(s.(loadtest.JSONSink).W.(*lockedBuffer).bytes()))
			var out []sinktest.Record
			for {
				var res loadtest.Result
				err := dec.Decode(&res)
				if errors.Is(err, io.EOF) {
					return out
				}
				if err != nil {
					t.Fatalf("the JSON sink wrote what does not decode: %v", err)
				}
				if res.RunID == runID && res.Node == node {
					out = append(out, sinktest.RecordOf(&res))
				}
			}
		},
		Appends:    true,
		Concurrent: true,
	})
}

func TestTextSinkConformance(t *testing.T) {
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T) loadtest.Sink { return loadtest.TextSink{W: new(lockedBuffer)} },
		Read: func(t *testing.T, s loadtest.Sink, runID, node string) []sinktest.Record {
			var out []sinktest.Record
			for _, rep := range splitReports(s.(loadtest.TextSink).W.(*lockedBuffer).bytes()) {
				rec := readReport(t, rep)
				if rec.RunID == runID && rec.Node == node {
					out = append(out, rec)
				}
			}
			return out
		},
		Appends:    true,
		Concurrent: true,
	})
}

// splitReports splits what a TextSink wrote into its reports, each of
// which begins with a "run ID on NODE: " line.
func splitReports(b []byte) []string {
	var reps []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "run ") && cur.Len() > 0 {
			reps = append(reps, cur.String())
			cur.Reset()
		}
		cur.WriteString(line + "\n")
	}
	if cur.Len() > 0 {
		reps = append(reps, cur.String())
	}
	return reps
}

// readReport reads back what a text report says of its result: the run
// and node, the measured counts per phase and operation, why it stopped
// and its error. It keeps no intervals, histograms or marks.
func readReport(t *testing.T, rep string) sinktest.Record {
	t.Helper()
	rec := sinktest.Record{Finished: true, Intervals: -1, Latencies: -1, Operations: map[string]int64{}}
	lines := strings.Split(strings.TrimSuffix(rep, "\n"), "\n")
	head := strings.Fields(lines[0])
	if len(head) < 4 || head[0] != "run" || head[2] != "on" {
		t.Fatalf("a report begins with %q", lines[0])
	}
	rec.RunID, rec.Node = head[1], strings.TrimSuffix(head[3], ":")
	counts := func(f []string) (int64, int64) {
		ops, err1 := strconv.ParseInt(f[1], 10, 64)
		errs, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("a statistics row reads %q", strings.Join(f, " "))
		}
		return ops, errs
	}
	table := ""
	for i, line := range lines {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "error: "):
			rec.Error = strings.Join(append([]string{strings.TrimPrefix(line, "error: ")}, lines[i+1:]...), "\n")
			return rec // the error is the report's last item
		case strings.HasPrefix(line, "stopped early: "):
			rec.Stopped = strings.TrimPrefix(line, "stopped early: ")
		case len(f) == 0:
			if table == "operations" {
				table = ""
			}
		case len(f) > 2 && f[0] == "phase" && f[1] == "ops":
			table = "phases"
		case len(f) > 2 && f[0] == "operation" && f[1] == "(measure)":
			table = "operations"
		case table == "phases" && f[0] == "measure" && len(f) == 9:
			rec.Ops, rec.Errors = counts(f)
		case table == "operations" && len(f) == 9:
			rec.Operations[f[0]], _ = counts(f)
		}
	}
	return rec
}
