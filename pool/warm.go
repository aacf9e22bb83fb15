package pool

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrInvalidOptions is matched (errors.Is) by every [*OptionError].
var ErrInvalidOptions = errors.New("pool: invalid options")

// OptionError reports a bad option, or one that the underlying pool's own
// limits cannot honour, naming the field at fault.
type OptionError struct {
	Field  string // the option at fault, e.g. "WarmOptions.Conns"
	Reason string // what is wrong with it and, where useful, how to fix it
}

func (e *OptionError) Error() string { return "pool: " + e.Field + ": " + e.Reason }

// Unwrap returns ErrInvalidOptions, so that errors.Is(err, ErrInvalidOptions)
// holds for every OptionError.
func (e *OptionError) Unwrap() error { return ErrInvalidOptions }

// Validate reports whether o can be used for Warm: Conns must be positive
// and Parallel must not be negative.
func (o WarmOptions) Validate() error {
	if o.Conns <= 0 {
		return &OptionError{Field: "WarmOptions.Conns", Reason: fmt.Sprintf("must be positive, got %d", o.Conns)}
	}
	if o.Parallel < 0 {
		return &OptionError{Field: "WarmOptions.Parallel", Reason: fmt.Sprintf("must not be negative (0 means %d), got %d", DefaultParallel, o.Parallel)}
	}
	return nil
}

// WarmError reports a warm-up in which some connections failed or were
// never attempted because the context was cancelled. Every connection that
// was opened has been given back to its pool before WarmError is returned.
type WarmError struct {
	Conns   int     // connections asked for
	Opened  int     // connections opened and verified
	Failed  int     // attempts that failed
	Skipped int     // connections not attempted because the warm-up was stopping
	Errs    []error // the first error first, then the others in index order
}

func (e *WarmError) Error() string {
	first := "no error"
	if len(e.Errs) > 0 {
		first = e.Errs[0].Error()
	}
	return fmt.Sprintf("pool: warm: %d of %d connections failed, %d not attempted: %s",
		e.Failed, e.Conns, e.Skipped, first)
}

// Unwrap returns every error, so that errors.Is and errors.As look at all of
// them (e.g. errors.Is(err, context.Canceled)).
func (e *WarmError) Unwrap() []error { return e.Errs }

// WarmConns implements Pool.Warm for an adapter. open opens connection i
// (0 <= i < opts.Conns) and verifies it with a round trip; release gives it
// back to the pool as an idle connection. WarmConns runs at most
// opts.Parallel opens at once, times each one and reports it to
// opts.OnConn.
//
// Every opened connection is held until all attempts are done, and only then
// released: were a connection released early, the next attempt could be
// handed the same idle connection instead of opening a new one, and fewer
// than Conns would be open at the end.
//
// On the first failure, or when ctx is cancelled, attempts not yet begun are
// skipped and those in flight see a cancelled context. WarmConns then
// releases what was opened and returns a [*WarmError]. It returns only after
// every goroutine it started has finished. Bad options yield an
// [*OptionError] before anything is opened.
func WarmConns(ctx context.Context, opts WarmOptions, open func(ctx context.Context, i int) (release func(), err error)) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	n, par := opts.Conns, opts.Parallel
	if par == 0 {
		par = DefaultParallel
	}
	releases := make([]func(), n)
	errs := make([]error, n) // each goroutine writes only its own index
	attempted := make([]bool, n)
	var firstIdx atomic.Int64 // index of the first attempt to fail, -1 while none has
	firstIdx.Store(-1)

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(par)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			// The slot may have come free only because the warm-up is stopping.
			if gctx.Err() != nil {
				return nil
			}
			attempted[i] = true
			start := time.Now()
			release, err := open(gctx, i)
			end := time.Now()
			if err != nil {
				errs[i] = err
				firstIdx.CompareAndSwap(-1, int64(i))
			} else {
				releases[i] = release
			}
			if opts.OnConn != nil {
				opts.OnConn(ConnInfo{Index: i, Start: start, End: end, Err: err})
			}
			return err
		})
	}
	_ = g.Wait() // the first error is errs[firstIdx]

	we := &WarmError{Conns: n}
	for i := range n {
		if releases[i] != nil {
			releases[i]()
			we.Opened++
		}
		switch {
		case !attempted[i]:
			we.Skipped++
		case errs[i] != nil:
			we.Failed++
		}
	}
	if we.Opened == n {
		return nil
	}
	fi := int(firstIdx.Load())
	switch {
	case fi >= 0:
		we.Errs = append(we.Errs, errs[fi])
	case ctx.Err() != nil:
		// Nothing failed, yet some were skipped: ctx was cancelled.
		we.Errs = append(we.Errs, ctx.Err())
	default:
		we.Errs = append(we.Errs, errors.New("pool: warm: connections missing for no known reason"))
	}
	for i, err := range errs {
		if err != nil && i != fi {
			we.Errs = append(we.Errs, err)
		}
	}
	return we
}
