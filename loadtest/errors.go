package loadtest

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

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

// ErrorKind classifies an operation's error for the per-kind counts of a
// result.
type ErrorKind uint8

// Error kinds, as they appear in results.
const (
	KindOther      ErrorKind = iota // anything not below
	KindTimeout                     // a deadline passed (the operation's or the network's)
	KindCanceled                    // the run's context was cancelled
	KindConnection                  // the connection was lost or refused
	KindSQL                         // the database rejected the statement
	numKinds
)

var kindNames = [numKinds]string{"other", "timeout", "canceled", "connection", "sql"}

func (k ErrorKind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Classify returns the kind of err. Database errors are recognised by the
// methods their drivers give them (SQLState for pgx and most drivers),
// connection errors by net.Error, driver.ErrBadConn, io.EOF and the reset
// and refused errnos.
func Classify(err error) ErrorKind {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed), errors.As(err, new(*net.OpError)):
		return KindConnection
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		return KindSQL
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return KindSQL
	}
	return KindOther
}
