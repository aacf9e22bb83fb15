package natscoord

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Results carries each node's encoded result to the orchestrator over
// NATS, so that results, like the coordination, never touch the database
// under test. It has the method sets of loadtest.ResultStore (PutResult,
// on the nodes) and loadtest.ResultSource (Results, on the orchestrator)
// without importing loadtest.
//
// The results of a run are objects of one JetStream object store per run
// (named after the run id, as the run's bucket is), one object per node
// under the node's id. An object store, not a key-value bucket: a result
// holds every histogram and the timeline of its node and can exceed the
// server's largest message (1 MiB by default); the object store chunks it
// (128 KiB per message) and checks its digest on the way back. Replacing a
// node's result replaces its object whole.
//
// A Results is safe for concurrent use. It does not own the connection.
type Results struct {
	js       jetstream.JetStream
	timeout  time.Duration
	replicas int

	mu      sync.Mutex
	stores  map[string]jetstream.ObjectStore // by run id
	streams map[string]bool                  // runs whose stream of records exists
	readers map[string]*records              // by run id
}

// NewResults returns a Results over nc. A request whose context has no
// deadline is bounded by DefaultTimeout.
func NewResults(nc *nats.Conn) (*Results, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: NewResults: a connection is required", ErrInvalid)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natscoord: %w", err)
	}
	return &Results{js: js, timeout: DefaultTimeout, replicas: 1, stores: map[string]jetstream.ObjectStore{},
		streams: map[string]bool{}, readers: map[string]*records{}}, nil
}

// resultsParallel bounds how many results Results reads at once.
const resultsParallel = 8

func (r *Results) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.timeout)
}

// store returns run's object store, creating it if create is set; nil
// without an error when it does not exist and create is not set.
func (r *Results) store(ctx context.Context, runID string, create bool) (jetstream.ObjectStore, error) {
	n, err := namesFor(runID)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	s := r.stores[runID]
	r.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err = r.js.ObjectStore(ctx, n.results)
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		if !create {
			return nil, nil
		}
		s, err = r.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: n.results,
			Description: "startline run " + runID + ": the nodes' results", Storage: jetstream.FileStorage, Replicas: r.replicas})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = r.js.ObjectStore(ctx, n.results)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("natscoord: the results of run %q: %w", runID, err)
	}
	r.mu.Lock()
	r.stores[runID] = s
	r.mu.Unlock()
	return s, nil
}

// PutResult stores node's encoded result for run runID, replacing any it
// stored before (loadtest.ResultStore).
func (r *Results) PutResult(ctx context.Context, runID, node string, result []byte) error {
	if node == "" {
		return fmt.Errorf("%w: PutResult: the node id is empty", ErrInvalid)
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	s, err := r.store(ctx, runID, true)
	if err != nil {
		return err
	}
	if _, err := s.PutBytes(ctx, node, result); err != nil {
		return fmt.Errorf("natscoord: storing the result of node %q of run %q: %w", node, runID, err)
	}
	return nil
}

// Results returns the encoded result stored for run runID by each node of
// nodes that has one, keyed by node; a node without one is left out
// (loadtest.ResultSource). It reads up to eight results at once.
func (r *Results) Results(ctx context.Context, runID string, nodes []string) (map[string][]byte, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	s, err := r.store(ctx, runID, false)
	if err != nil || s == nil {
		return map[string][]byte{}, err
	}
	out := make(map[string][]byte, len(nodes))
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, resultsParallel)
	var wg sync.WaitGroup
	for _, node := range nodes {
		if node == "" {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			data, err := s.GetBytes(ctx, node)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, jetstream.ErrObjectNotFound):
			case err != nil:
				errs = append(errs, fmt.Errorf("node %q: %w", node, err))
			default:
				out[node] = data
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("natscoord: reading the results of run %q: %w", runID, err)
	}
	return out, nil
}
