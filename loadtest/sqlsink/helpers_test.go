package sqlsink_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/sqlpool"
)

type target struct {
	name string
	db   *sql.DB
	d    dialect.Dialect
}

func sqliteDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "results.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func postgresTarget(t *testing.T) target {
	return target{"postgres", openPgx(t, testenv.Postgres(t)), dialect.Postgres}
}

func openPgx(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func mariaTarget(t *testing.T) target {
	dsn := testenv.MySQL(t)
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return target{"mariadb", db, dialect.MySQL}
}

var prefixes atomic.Int64

// prefix returns a table prefix no other test uses, and drops its tables
// when t ends.
func prefix(t *testing.T, tg target) string {
	t.Helper()
	p := fmt.Sprintf("sl_test_%d_%d_", time.Now().UnixNano()%1e9, prefixes.Add(1))
	t.Cleanup(func() {
		require.NoError(t, sqlsink.DropTables(context.Background(), tg.db, tg.d, p))
	})
	return p
}

// runResult runs a short real load test on an SQLite database, with the
// given sinks and hooks, and returns its result and error.
func runResult(t *testing.T, node string, sinks []loadtest.Sink, hooks loadtest.Hooks) (*loadtest.Result, error) {
	t.Helper()
	db := sqliteDB(t)
	_, err := db.Exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100)
		INSERT INTO items SELECT i, 'item ' || i FROM n`)
	require.NoError(t, err)
	p := sqlpool.New(db, sqlpool.Options{})
	t.Cleanup(func() { p.Close() })
	r, err := loadtest.New(loadtest.Config{
		RunID: "sink-test", Node: node, Pool: p, Workers: 3,
		Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond, Interval: 50 * time.Millisecond,
		Sinks: sinks, Hooks: hooks,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{
			loadtest.QueryOp("one", 3, "SELECT name FROM items WHERE id = 1", nil),
			loadtest.QueryOp("count", 1, "SELECT count(*) FROM items", nil),
		}},
	})
	require.NoError(t, err)
	return r.Run(context.Background())
}

// proxy forwards TCP connections to a database, and can be cut off and
// restored: a database that goes away and comes back.
type proxy struct {
	upstream string
	addr     string
	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

func newProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	p := &proxy{upstream: upstream, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.upstream)
			if err != nil {
				c.Close()
				continue
			}
			if !p.track(c, u) {
				return
			}
			for _, pair := range [][2]net.Conn{{c, u}, {u, c}} {
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					_, _ = io.Copy(pair[0], pair[1])
					pair[0].Close()
					pair[1].Close()
				}()
			}
		}
	}()
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

// stop closes the listener and every connection: the database is gone.
func (p *proxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// restart listens again on the same address.
func (p *proxy) restart(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.serve(ln)
}

func count(t *testing.T, tg target, table, runID, node string) int {
	t.Helper()
	q, err := tg.d.Ident(table)
	require.NoError(t, err)
	var n int
	err = tg.db.QueryRow(fmt.Sprintf("SELECT count(*) FROM %s WHERE run_id = %s AND node = %s",
		q, tg.d.Placeholder(1), tg.d.Placeholder(2)), runID, node).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0
	}
	require.NoError(t, err)
	return n
}
