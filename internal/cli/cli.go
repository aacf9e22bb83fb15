// Package cli is the one main function of the example commands: it runs a
// command with the process's arguments and standard streams, cancels its
// context on an interrupt, and turns its error into an exit status. It
// also holds what the commands share besides: writing an output file, the
// repeatable list flag and the flags of a capacity search.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// Run is a command's body: args are the command-line arguments without the
// program name. A command parses them with a flag.FlagSet using
// flag.ContinueOnError, so that bad flags come back as an error.
type Run func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Main runs run and exits: with status 2 when the flags asked for help (the
// flag package has printed it), 1 with the error on standard error when
// run failed, and 0 otherwise.
func Main(name string, run Run) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// WriteFile creates (or truncates) the file at path and has write fill
// it. The error is write's, or the file's own: closing a file that was
// written can fail too (a full disk), and that failure is not dropped.
func WriteFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
