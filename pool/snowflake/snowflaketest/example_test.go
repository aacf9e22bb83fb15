package snowflaketest_test

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/snowflakedb/gosnowflake"

	"github.com/startline/startline/pool/snowflake/snowflaketest"
)

// Example runs tagged statements through gosnowflake against a local
// server and reads them back from QUERY_HISTORY, as one would on a real
// account; the server's own records say how each result was answered.
func Example() {
	srv := snowflaketest.New(snowflaketest.Options{})
	defer srv.Close()
	db := sql.OpenDB(gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{},
		*srv.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)))
	defer db.Close()

	ctx := gosnowflake.WithQueryTag(context.Background(), "example")
	for _, q := range []string{
		`CREATE TABLE "ACCOUNTS" ("ID" NUMBER(38,0), "BALANCE" NUMBER(18,2))`,
		`INSERT INTO "ACCOUNTS" VALUES (1, 10.5), (2, 20.25)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			fmt.Println(err)
			return
		}
	}
	var total string
	if err := db.QueryRowContext(ctx, `SELECT CAST(SUM("BALANCE") AS NUMBER(18,2)) FROM "ACCOUNTS"`).Scan(&total); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("total:", total)

	rows, err := db.Query(`SELECT QUERY_TYPE, EXECUTION_STATUS, WAREHOUSE_NAME, CLUSTER_NUMBER, ROWS_PRODUCED
		FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(END_TIME_RANGE_END => CURRENT_TIMESTAMP()))
		WHERE QUERY_TAG = 'example' ORDER BY START_TIME`)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var typ, status, wh string
		var cluster sql.NullInt64
		var produced int64
		if err := rows.Scan(&typ, &status, &wh, &cluster, &produced); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(typ, status, wh, cluster.Int64, produced)
	}
	for _, st := range srv.Statements() {
		if st.QueryType == "SELECT" && st.QueryTag == "example" {
			fmt.Println("the SELECT was answered in", st.Format)
		}
	}
	// Output:
	// total: 30.75
	// CREATE_TABLE SUCCESS COMPUTE_WH 0 0
	// INSERT SUCCESS COMPUTE_WH 1 2
	// SELECT SUCCESS COMPUTE_WH 1 1
	// the SELECT was answered in arrow
}
