package profile_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/profile"
)

func ExampleSQLProfiler() {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // each connection to :memory: is its own database
	_, err = db.Exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT);
		INSERT INTO orders VALUES (10, 'new'), (11, 'paid'), (12, 'paid'), (20, 'shipped')`)
	if err != nil {
		panic(err)
	}

	p := &profile.SQLProfiler{DB: db, Dialect: dialect.SQLite}
	prof, err := p.Profile(context.Background(), []profile.TableSpec{
		{Table: "orders", Key: "id", Columns: []string{"status"}, Sample: 3},
	})
	if err != nil {
		panic(err)
	}
	orders := prof.Table("orders")
	fmt.Printf("ids %d..%d, %d status values\n", orders.MinID, orders.MaxID, len(orders.Values["status"]))

	r := rand.New(rand.NewPCG(1, 2)) // one per worker
	id := orders.RandomID(r)
	fmt.Println(id >= 10 && id <= 20)
	// Output:
	// ids 10..20, 3 status values
	// true
}

func ExampleFileProfiler() {
	dir, err := os.MkdirTemp("", "profile-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "orders.json")

	// Typically the output of an SQLProfiler, saved once.
	err = profile.Save(path, &profile.Profile{Tables: map[string]*profile.Table{
		"orders": {Name: "orders", MinID: 1, MaxID: 5000, HasIDs: true,
			Values: map[string][]any{"status": {"new", "paid"}}},
	}})
	if err != nil {
		panic(err)
	}

	fp := profile.FileProfiler{Path: path}
	prof, err := fp.Profile(context.Background(), []profile.TableSpec{{Table: "orders", Key: "id", Columns: []string{"status"}}})
	if err != nil {
		panic(err)
	}
	fmt.Println(prof.Table("orders").MaxID, prof.Table("orders").Values["status"])

	_, err = fp.Profile(context.Background(), []profile.TableSpec{{Table: "orders", Columns: []string{"customer"}}})
	fmt.Println(err != nil)
	// Output:
	// 5000 [new paid]
	// true
}
