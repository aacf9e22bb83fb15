package sqlpool_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/sqlpool"
)

func Example() {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		panic(err)
	}
	p := sqlpool.New(db, sqlpool.Options{})
	defer p.Close()

	var calls atomic.Int64
	err = p.Warm(context.Background(), pool.WarmOptions{Conns: 4, OnConn: func(ci pool.ConnInfo) {
		calls.Add(1) // ci.End.Sub(ci.Start) is this connection's open latency
	}})
	fmt.Println("warm:", err, calls.Load(), "OnConn calls,", db.Stats().Idle, "idle")

	s, err := p.Session(context.Background())
	if err != nil {
		panic(err)
	}
	defer s.Close()
	rows, err := s.Query(context.Background(), "SELECT 1 UNION ALL SELECT 2")
	fmt.Println("query:", rows, "rows", err)
	// Output:
	// warm: <nil> 4 OnConn calls, 4 idle
	// query: 2 rows <nil>
}
