package loadtest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

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
// methods their drivers give them (SQLState for pgx and most drivers,
// Code for others), connection errors by net.Error, driver.ErrBadConn,
// sql.ErrConnDone, io.EOF, the reset and refused errnos, and by the
// SafeToRetry method with which pgx marks an error that happened before
// the statement reached the server (a connection already closed, say).
//
// A few SQLSTATEs are about the connection, not the statement, and are
// classified so: class 08 (connection exception) and 57P01-57P03 (the
// server terminated the backend, as pg_terminate_backend does, or is
// shutting down) are KindConnection; 57014 (query_canceled, a
// statement_timeout or a cancel request) is KindTimeout.
//
// A *pool.WarmError is classified by its first error: the others are
// often the cancellation that the first failure caused.
func Classify(err error) ErrorKind {
	if err == nil {
		return KindOther
	}
	var we *pool.WarmError
	if errors.As(err, &we) && len(we.Errs) > 0 {
		err = we.Errs[0]
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		return sqlStateKind(st.SQLState())
	}
	var retry interface{ SafeToRetry() bool }
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed), errors.As(err, new(*net.OpError)),
		errors.As(err, &retry) && retry.SafeToRetry():
		return KindConnection
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return KindSQL
	}
	return KindOther
}

// sqlStateKind classifies a SQLSTATE (see Classify).
func sqlStateKind(state string) ErrorKind {
	switch {
	case strings.HasPrefix(state, "08"), state == "57P01", state == "57P02", state == "57P03":
		return KindConnection
	case state == "57014":
		return KindTimeout
	}
	return KindSQL
}
