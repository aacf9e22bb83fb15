package snowflake

import (
	"context"

	"github.com/startline/startline/loadtest"
)

// TagOp returns op with the worker's session re-tagged before each run, with
// the worker's id and phase (warmup or measure), so that every statement's
// QUERY_TAG tells Snowflake's query history which worker ran it and in which
// phase. Re-tagging only builds a new tag when the phase changes; it sends
// nothing. Sessions that are not this package's are left alone.
func TagOp(op loadtest.Operation) loadtest.Operation {
	run := op.Run
	if run == nil {
		return op // loadtest.New reports the missing Run
	}
	op.Run = func(ctx context.Context, w *loadtest.Worker) error {
		if s, ok := w.Session().(*Session); ok {
			s.TagPhase(w.ID(), string(w.Phase()))
		}
		return run(ctx, w)
	}
	return op
}

// TagWorkload returns wl with every operation wrapped by TagOp.
func TagWorkload(wl loadtest.Workload) loadtest.Workload {
	ops := make([]loadtest.Operation, len(wl.Operations))
	for i, op := range wl.Operations {
		ops[i] = TagOp(op)
	}
	wl.Operations = ops
	return wl
}
