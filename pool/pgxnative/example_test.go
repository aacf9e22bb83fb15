package pgxnative_test

import (
	"context"
	"log"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/pgxnative"
)

// A worker warms 50 connections before the start signal, then runs its
// queries on one pinned connection. (Not run: it needs a server.)
func Example() {
	ctx := context.Background()
	p, err := pgxnative.Open(ctx, "postgres://postgres@127.0.0.1:5432/test?application_name=loadtest", pgxnative.Options{MaxConns: 50})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	if err := p.Warm(ctx, pool.WarmOptions{Conns: 50}); err != nil {
		log.Fatal(err)
	}

	s, err := p.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	// Generic path: rows read and counted.
	if _, err := s.Query(ctx, "SELECT * FROM orders WHERE id = $1", 42); err != nil {
		log.Fatal(err)
	}
	// Hot path: typed arguments and scans on the pinned *pgx.Conn.
	var total int64
	if err := s.(*pgxnative.Session).Conn().QueryRow(ctx, "SELECT sum(amount) FROM orders WHERE customer = $1", 7).Scan(&total); err != nil {
		log.Fatal(err)
	}
}
