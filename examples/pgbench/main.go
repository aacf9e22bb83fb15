// Command pgbench runs pgbench's select-only workload (pgbench -S) through
// startline, so that the two can be run one after the other on the same
// machine and their throughputs compared.
//
// The database is the one `pgbench -i -s SCALE` prepares. Each of -c
// workers keeps one connection and one prepared statement for the whole
// run, as pgbench's clients do, and runs
//
//	SELECT abalance FROM pgbench_accounts WHERE aid = $1
//
// with aid drawn uniformly from 1 to 100000*SCALE. The first line of the
// report is pgbench's own `tps = N (without initial connection time)`; the
// full startline report (startup waterfall, latencies) follows.
//
//	pgbench -i -s 10 test
//	go run ./examples/pgbench -dsn postgres://127.0.0.1:5432/test -c 8 -T 15
//
// A DSN without a user connects as $PGUSER, or else as the operating system
// user, as libpq and pgbench do; without sslmode it prefers TLS, as they do.
// ../shared/tools/pgbench-compare runs this beside `pgbench -S -M prepared`,
// interleaved.
//
// Each worker takes the *pgx.Conn out of its session once, on its first
// operation, and keeps it in a slot of its own. -mode chooses the pgx path
// (cache, prepared, raw-ctx, raw; raw, the default, runs the prepared
// statement through pgconn with a pre-encoded binary parameter and
// allocates once per query, in pgx). -io blocking, the default, reads and
// writes each client's socket with blocking system calls on a thread of
// its own, as pgbench's C clients do, instead of through Go's network
// poller (-io poller), whose epoll and futex calls cost more per query on
// a 2-core machine (PERFORMANCE.md has the counts); -procs sets
// GOMAXPROCS, -gc the GC percentage, -cpuprofile writes a CPU profile.
// PERFORMANCE.md gives what each costs on one machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/startline/startline/internal/cli"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/pgxnative"
)

func main() {
	cli.Main("pgbench", func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		return run(ctx, args, stdout)
	})
}

// options are the command's flags.
type options struct {
	dsn        string
	clients    int
	seconds    int
	threads    int
	scale      int
	warmup     time.Duration
	mode       string
	io         string
	procs      int
	gcPercent  int
	jsonPath   string
	cpuProfile string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("pgbench", flag.ContinueOnError)
	fs.StringVar(&o.dsn, "dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL DSN (URL or key=value)")
	fs.IntVar(&o.clients, "c", 1, "number of clients (workers), each with its own connection")
	fs.IntVar(&o.seconds, "T", 10, "duration of the measured window, in seconds")
	fs.IntVar(&o.threads, "j", 1, "accepted for symmetry with pgbench; workers are goroutines, see -procs")
	fs.IntVar(&o.scale, "s", 0, "scale factor; 0 reads it from pgbench_branches, as pgbench does")
	fs.DurationVar(&o.warmup, "warmup", 0, "warmup before the measured window, kept out of tps")
	fs.StringVar(&o.mode, "mode", ModeRaw, "pgx path: cache, prepared, raw-ctx or raw (see PERFORMANCE.md)")
	fs.StringVar(&o.io, "io", ioBlocking, "socket I/O: blocking (blocking system calls, one thread per client) or poller (Go's network poller)")
	fs.IntVar(&o.procs, "procs", 0, "GOMAXPROCS; 0 keeps the runtime's choice, or with -io blocking makes it clients+2")
	fs.IntVar(&o.gcPercent, "gc", 400, "GOGC percentage (debug.SetGCPercent); the hot path allocates little, so a rarer GC costs little memory")
	fs.StringVar(&o.jsonPath, "json", "", "also write the startline result as JSON to this file")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.clients <= 0:
		return o, fmt.Errorf("-c: must be positive, got %d", o.clients)
	case o.seconds <= 0:
		return o, fmt.Errorf("-T: must be positive, got %d", o.seconds)
	case o.threads <= 0:
		return o, fmt.Errorf("-j: must be positive, got %d", o.threads)
	case o.scale < 0 || int64(o.scale)*accountsPerScale > 1<<31-1:
		return o, fmt.Errorf("-s: must be 0 to %d, got %d", (1<<31-1)/accountsPerScale, o.scale)
	case o.warmup < 0:
		return o, fmt.Errorf("-warmup: must not be negative, got %v", o.warmup)
	case !validMode(o.mode):
		return o, fmt.Errorf("-mode: want one of %v, got %q", modes, o.mode)
	case o.io != ioPoller && o.io != ioBlocking:
		return o, fmt.Errorf("-io: want %s or %s, got %q", ioPoller, ioBlocking, o.io)
	case o.procs < 0:
		return o, fmt.Errorf("-procs: must not be negative, got %d", o.procs)
	}
	return o, nil
}

// Values of -io.
const (
	ioPoller   = "poller"
	ioBlocking = "blocking"
)

// accountsPerScale is pgbench's number of pgbench_accounts rows per unit of
// scale.
const accountsPerScale = 100_000

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	procs := o.procs
	if procs == 0 && o.io == ioBlocking {
		procs = o.clients + 2 // a processor per client, and the Runner's own
	}
	if procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	}
	defer debug.SetGCPercent(debug.SetGCPercent(o.gcPercent))

	p, err := openPool(ctx, o.dsn, o.clients, o.io)
	if err != nil {
		return err
	}
	defer p.Close()

	scale := o.scale
	if scale == 0 {
		if scale, err = readScale(ctx, p); err != nil {
			return err
		}
	}
	cs := newClients(o.mode, o.clients, int64(scale)*accountsPerScale)
	defer cs.close()

	var sinks []loadtest.Sink
	if o.jsonPath != "" {
		f, err := os.Create(o.jsonPath)
		if err != nil {
			return err
		}
		defer f.Close()
		sinks = append(sinks, loadtest.JSONSink{W: f, Indent: true})
	}
	r, err := loadtest.New(loadtest.Config{
		Pool:     p,
		Workers:  o.clients,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{cs.op()}},
		Warmup:   o.warmup,
		Duration: time.Duration(o.seconds) * time.Second,
		Sinks:    sinks,
	})
	if err != nil {
		return err
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, runErr := r.Run(ctx)
	if res == nil {
		return runErr
	}
	writeSummary(stdout, o, scale, res)
	if err := res.WriteText(stdout); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

// openPool opens a pool of conns connections, dialled for the -io mode.
func openPool(ctx context.Context, dsn string, conns int, io string) (*pgxnative.Pool, error) {
	opts := pgxnative.Options{MaxConns: int32(conns)}
	if io == ioBlocking {
		opts.Config = func(c *pgxpool.Config) { c.ConnConfig.DialFunc = dialBlocking }
	}
	return pgxnative.Open(ctx, dsn, opts)
}

// readScale reads the scale factor as pgbench does: the number of rows of
// pgbench_branches.
func readScale(ctx context.Context, p *pgxnative.Pool) (int, error) {
	var n int64
	err := p.Pgx().QueryRow(ctx, "SELECT count(*) FROM pgbench_branches").Scan(&n)
	switch {
	case err != nil:
		return 0, fmt.Errorf("reading the scale from pgbench_branches (run `pgbench -i` first, or give -s): %w", err)
	case n <= 0 || n*accountsPerScale > 1<<31-1:
		return 0, fmt.Errorf("pgbench_branches has %d rows: want 1 to %d (run `pgbench -i -s SCALE`)", n, (1<<31-1)/accountsPerScale)
	}
	return int(n), nil
}

// writeSummary writes pgbench's summary lines, the tps line first of the
// figures so that scripts that read pgbench's output read this one.
func writeSummary(w io.Writer, o options, scale int, res *loadtest.Result) {
	m := res.Phases.Measure
	fmt.Fprintln(w, "transaction type: <builtin: select only> (startline, pgx "+o.mode+", "+o.io+" I/O)")
	fmt.Fprintf(w, "scaling factor: %d\n", scale)
	fmt.Fprintf(w, "number of clients: %d\n", o.clients)
	fmt.Fprintf(w, "duration: %d s\n", o.seconds)
	fmt.Fprintf(w, "number of transactions actually processed: %d\n", m.Ops-m.Errors)
	fmt.Fprintf(w, "number of failed transactions: %d\n", m.Errors)
	fmt.Fprintf(w, "latency average = %.3f ms\n", float64(m.Latency.Mean)/float64(time.Millisecond))
	fmt.Fprintf(w, "tps = %f (without initial connection time)\n\n", m.Throughput)
}
