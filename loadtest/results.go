package loadtest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/startline/startline/internal/backoff"
)

// Moving results between processes is a results store's job, not the
// coordinator's: each node writes its Result to a store through a Sink,
// and the orchestrator collects them from the store with Collect, then
// merges them with MergeWith.
//
// The two interfaces below deal in encoded results (a Result as
// json.Marshal writes it), so that a store needs nothing of this package:
// a message system's package (NATS, say) implements them over bytes, and
// ResultSink and Collect do the encoding and the checking, once.
// Package sqlsink is a Sink that keeps every result whole in its
// test_results table and is a ResultSource over it.

// ResultSource is where an orchestrator reads the results that the nodes
// of a run stored. Results may be called repeatedly while nodes are still
// writing; it must be safe for concurrent use.
type ResultSource interface {
	// Results returns the encoded result stored for run runID by each node
	// of nodes that has one, keyed by node; a node without one is left
	// out, not an error.
	Results(ctx context.Context, runID string, nodes []string) (map[string][]byte, error)
}

// ResultStore is where a node stores its encoded result, for a
// ResultSource over the same store to return. Storing a node's result
// again replaces it. ResultSink makes it a Sink.
type ResultStore interface {
	PutResult(ctx context.Context, runID, node string, result []byte) error
}

// ResultSink returns a Sink that stores each result, encoded, in s. Its
// TestStart does nothing.
func ResultSink(s ResultStore) Sink { return resultSink{s} }

type resultSink struct{ s ResultStore }

func (resultSink) TestStart(context.Context, RunInfo) error { return nil }

func (r resultSink) Write(ctx context.Context, res *Result) error {
	if res == nil {
		return errors.New("loadtest: result sink: nil result")
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("loadtest: result sink: encoding the result of %q: %w", res.Node, err)
	}
	if err := r.s.PutResult(ctx, res.RunID, res.Node, b); err != nil {
		return fmt.Errorf("loadtest: result sink: storing the result of %q: %w", res.Node, err)
	}
	return nil
}

// lastReadTimeout bounds the read Collect makes after its context ended.
const lastReadTimeout = 5 * time.Second

// ErrMissingResults is wrapped by the error Collect returns when ctx ended
// before every node's result was there.
var ErrMissingResults = errors.New("loadtest: results missing")

// Collect waits until src holds the result of every node of nodes for run
// runID, or ctx ends, reading it again with backoff (from 10ms up to a
// quarter of a second), and returns the results decoded (DecodeResult:
// every count checked), sorted by node.
//
// When ctx ends first it returns the results it has and an error wrapping
// ErrMissingResults and ctx's error that names the nodes missing. A
// result that does not decode, or that names another run or node, is
// reported in the error by node and field, and the other results are
// returned all the same: it is there, only bad, so Collect does not wait
// for it.
func Collect(ctx context.Context, src ResultSource, runID string, nodes []string) ([]*Result, error) {
	wait := backoff.Backoff{Initial: 10 * time.Millisecond, Max: 250 * time.Millisecond}
	for {
		got, err := src.Results(ctx, runID, nodes)
		if len(absent(got, nodes)) == 0 {
			return decodeResults(got, runID, nodes)
		}
		if wait.Sleep(ctx) == nil {
			continue
		}
		// ctx ended: one last read of its own, bounded, so that what is
		// there is returned even when ctx ended before a read could finish.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lastReadTimeout)
		if last, lerr := src.Results(lctx, runID, nodes); lerr == nil {
			got, err = last, nil
		}
		cancel()
		out, derr := decodeResults(got, runID, nodes)
		var merr error
		if missing := absent(got, nodes); len(missing) > 0 {
			merr = fmt.Errorf("%w: no result from [%s] of run %q: %w", ErrMissingResults, strings.Join(missing, " "), runID, ctx.Err())
			if err != nil {
				merr = fmt.Errorf("%w (last read: %v)", merr, err)
			}
		}
		return out, errors.Join(merr, derr)
	}
}

// absent returns the nodes without a result in got.
func absent(got map[string][]byte, nodes []string) []string {
	var out []string
	for _, n := range nodes {
		if _, ok := got[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

// decodeResults decodes the results of nodes found in got.
func decodeResults(got map[string][]byte, runID string, nodes []string) ([]*Result, error) {
	var out []*Result
	var errs []error
	for _, n := range nodes {
		b, ok := got[n]
		if !ok {
			continue
		}
		res, err := DecodeResult(bytes.NewReader(b))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("loadtest: collect: decoding the result of node %q: %w", n, err))
		case res.RunID != runID || res.Node != n:
			errs = append(errs, fmt.Errorf("loadtest: collect: the result stored for node %q of run %q is node %q's of run %q", n, runID, res.Node, res.RunID))
		default:
			out = append(out, res)
		}
	}
	slices.SortFunc(out, func(a, b *Result) int { return cmp.Compare(a.Node, b.Node) })
	return out, errors.Join(errs...)
}
