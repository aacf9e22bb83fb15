// Command loadresults loads result files that a sqlsink.Sink saved when it
// could not write to its database (the path is in the error it returned),
// or any JSON result files, into the results tables.
//
//	go run ./examples/loadresults -driver pgx -dsn postgres://... FILE.json...
//
// Loading a file twice leaves one copy of its rows, so a load that fails
// halfway can simply be run again.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/startline/startline/internal/cli"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
)

func main() {
	cli.Main("loadresults", func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		return run(ctx, args, stdout)
	})
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadresults", flag.ContinueOnError)
	driver := fs.String("driver", "sqlite3", "database/sql driver: pgx, mysql or sqlite3")
	dsn := fs.String("dsn", "", "data source name of the results database")
	prefix := fs.String("prefix", sqlsink.DefaultPrefix, "table name prefix")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dsn == "" {
		return errors.New("-dsn is required")
	}
	if fs.NArg() == 0 {
		return errors.New("no result file given")
	}
	d, err := dialect.ForDriver(*driver)
	if err != nil {
		return err
	}
	db, err := sql.Open(*driver, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, path := range fs.Args() {
		if err := sqlsink.LoadFile(ctx, db, d, *prefix, path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "loaded %s\n", path)
	}
	return nil
}
