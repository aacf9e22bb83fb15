package loadtest

import (
	"errors"
	"fmt"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/timing"
)

// ErrInvalidConfig is matched (errors.Is) by every error New returns for a
// Config it rejects.
var ErrInvalidConfig = errors.New("loadtest: invalid config")

// ErrAborted is matched by the error Run returns when the orchestrator
// aborted the run.
var ErrAborted = errors.New("loadtest: run aborted")

// ConfigError says which field of a Config is invalid and why.
type ConfigError struct {
	Field  string // as written in Go, e.g. "Workload.Operations[1].Weight"
	Reason string
}

func (e *ConfigError) Error() string {
	return "loadtest: invalid config: " + e.Field + ": " + e.Reason
}

// Is makes a ConfigError match ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// PhaseError is an error that ended a run, with the phase and the worker in
// which it happened.
type PhaseError struct {
	Phase  timing.Phase
	Worker int // timing.Process for the process's own phases
	Err    error
}

func (e *PhaseError) Error() string {
	if e.Worker == timing.Process {
		return fmt.Sprintf("loadtest: %s: %v", e.Phase, e.Err)
	}
	return fmt.Sprintf("loadtest: %s (worker %d): %v", e.Phase, e.Worker, e.Err)
}

func (e *PhaseError) Unwrap() error { return e.Err }

// classifier is the Runner's classification of errors: the pool's own
// (a pool.Classifier, discovered once in New) first, then pool.Classify.
type classifier struct{ pool pool.Classifier }

// classify returns err's kind and whether a setup phase that failed with
// it may be tried again: what the pool says, if it knows err; otherwise
// pool.Classify's kind, and a retry only for a lost, refused or timed-out
// connection (a statement error, such as a missing table or bad
// credentials, would fail again).
func (c classifier) classify(err error) (kind pool.ErrorKind, retryable bool) {
	if c.pool != nil {
		if k, r, ok := c.pool.ClassifyError(err); ok {
			return k, r
		}
	}
	k := pool.Classify(err)
	return k, k == pool.KindConnection || k == pool.KindTimeout
}

// kind is classify's kind.
func (c classifier) kind(err error) pool.ErrorKind {
	k, _ := c.classify(err)
	return k
}
