package sqlcoord

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/startline/startline/loadtest"
)

// Sink returns a loadtest.Sink that records the test start and the result
// in the worker's row, where the orchestrator's Collect reads them. The
// worker is the one whose ID is the run's Node (a Runner joins with
// Config.Node as its ID), so a Runner using this Coordinator and this Sink
// needs nothing else.
func (c *Coordinator) Sink() loadtest.Sink { return sink{c} }

type sink struct{ c *Coordinator }

// dbNow is now on the database clock as measured by worker id, or on the
// local clock if it never joined through this Coordinator.
func (s sink) dbNow(id string) int64 {
	if m, ok := s.c.members.Load(id); ok {
		return m.(*member).dbNow()
	}
	return time.Now().UnixNano()
}

// TestStart records when the test started, on the database's clock.
func (s sink) TestStart(ctx context.Context, info loadtest.RunInfo) error {
	c := s.c
	if _, err := c.s.db.ExecContext(ctx, c.s.q.testStart, s.dbNow(info.Node), c.opts.RunID, info.Node); err != nil {
		return fmt.Errorf("sqlcoord: worker %q: recording the test start: %w", info.Node, err)
	}
	return nil
}

// Write stores res as JSON in the worker's row.
func (s sink) Write(ctx context.Context, res *loadtest.Result) error {
	c := s.c
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("sqlcoord: worker %q: encoding the result: %w", res.Node, err)
	}
	if _, err := c.s.db.ExecContext(ctx, c.s.q.result, string(b), c.opts.RunID, res.Node); err != nil {
		return fmt.Errorf("sqlcoord: worker %q: storing the result: %w", res.Node, err)
	}
	return nil
}
