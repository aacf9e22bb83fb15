package pool

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"syscall"
)

// ErrorKind sorts a database error by what it means for a load test: a
// result counts errors per kind, a worker opens a fault only for some
// kinds, and a setup phase retries only some. The kinds live here, beside
// the pools, so that a pool can name them ([Classifier]) without importing
// the load-test runner.
type ErrorKind uint8

// Error kinds, as they appear in results.
const (
	KindOther      ErrorKind = iota // anything not below
	KindTimeout                     // a deadline passed (the operation's or the network's)
	KindCanceled                    // the run's context was cancelled
	KindConnection                  // the connection was lost or refused
	KindSQL                         // the database rejected the statement
	NumKinds                        // the number of kinds, for tables indexed by kind
)

var kindNames = [NumKinds]string{"other", "timeout", "canceled", "connection", "sql"}

// String returns the kind's name as results write it: "other", "timeout",
// "canceled", "connection" or "sql".
func (k ErrorKind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Classifier is implemented by a Pool that knows its driver's errors better
// than [Classify] can tell them apart, such as a driver whose errors carry
// their SQLSTATE in a field instead of a method, or whose own retry rules
// say which failures another try can fix (a throttled Snowflake login). A
// Runner looks for it once, when it is created, and asks it first about
// every error: an operation's, to count it and to decide whether it opens
// a fault, and a setup phase's, to decide whether to retry it.
//
// ClassifyError returns err's kind and whether trying again, after a
// pause, can help; ok is false for an error the pool has nothing to say
// about, which the Runner then classifies with Classify (and retries when
// it is of KindConnection or KindTimeout). It is called from many
// goroutines at once, and must be cheap: it runs for every failed
// operation.
type Classifier interface {
	ClassifyError(err error) (kind ErrorKind, retryable, ok bool)
}

// Classify returns the kind of err without knowledge of any one driver.
// Database errors are recognised by the methods their drivers give them
// (SQLState for pgx and most drivers, a Code method returning an integer
// for others, such as SQLite's result codes), timeouts by a Timeout
// method that says so (net.Error's, os.ErrDeadlineExceeded's), connection
// errors by the network's own errors (*net.OpError, net.ErrClosed, ...),
// driver.ErrBadConn, sql.ErrConnDone, io.EOF, the reset and refused
// errnos, and by the SafeToRetry method with which pgx marks an error that
// happened before the statement reached the server (a connection already
// closed, say). A SQLSTATE is read as [SQLStateKind] reads it.
//
// A *WarmError is classified by its first error: the others are often the
// cancellation that the first failure caused.
func Classify(err error) ErrorKind {
	if err == nil {
		return KindOther
	}
	err = firstCause(err)
	var to interface{ Timeout() bool }
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &to) && to.Timeout():
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		return SQLStateKind(st.SQLState())
	}
	var retry interface{ SafeToRetry() bool }
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		inTree(err, netError),
		errors.As(err, &retry) && retry.SafeToRetry():
		return KindConnection
	}
	if inTree(err, coded) {
		return KindSQL
	}
	return KindOther
}

// inTree reports whether is holds for an error in err's tree.
func inTree(err error, is func(error) bool) bool {
	for err != nil {
		if is(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			return slices.ContainsFunc(u.Unwrap(), func(e error) bool { return inTree(e, is) })
		default:
			return false
		}
	}
	return false
}

// netError reports whether e is one of package net's errors (*net.OpError,
// *net.DNSError, ...) or net.ErrClosed (of internal/poll), told by its
// type's package: pool does not import net, which would bring it and cgo
// into every program that imports pool, the embedded quickstart's first
// build among them.
func netError(e error) bool {
	t := reflect.TypeOf(e)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.PkgPath() {
	case "net", "internal/poll":
		return true
	}
	return false
}

// coded reports whether e has a Code method without arguments that
// returns an integer, of whatever named type: SQLite drivers give their
// errors the result code so (ncruces/go-sqlite3's Code() is an
// sqlite3.ErrorCode), and no one interface can name every such type.
func coded(e error) bool {
	m := reflect.ValueOf(e).MethodByName("Code")
	if !m.IsValid() {
		return false
	}
	t := m.Type()
	return t.NumIn() == 0 && t.NumOut() == 1 && integer(t.Out(0).Kind())
}

// integer reports whether k is a kind of integer.
func integer(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Uint64
}

// SQLStateKind classifies a SQLSTATE. Most say the statement was rejected
// (KindSQL), but a few are about the connection, not the statement: class
// 08 (connection exception) and 57P01-57P03 (the server terminated the
// backend, as pg_terminate_backend does, or is shutting down) are
// KindConnection; 57014 (query_canceled: a statement timeout or a cancel
// request) is KindTimeout.
func SQLStateKind(state string) ErrorKind {
	switch {
	case strings.HasPrefix(state, "08"), state == "57P01", state == "57P02", state == "57P03":
		return KindConnection
	case state == "57014":
		return KindTimeout
	}
	return KindSQL
}

// firstCause returns the first error of a *WarmError in err's chain, which
// names what went wrong (the others are often the cancellation it caused),
// and err itself otherwise.
func firstCause(err error) error {
	var we *WarmError
	if errors.As(err, &we) && len(we.Errs) > 0 {
		return we.Errs[0]
	}
	return err
}
