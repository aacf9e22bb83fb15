package dialect_test

import (
	"fmt"

	"github.com/startline/startline/pool/dialect"
)

func ExampleDialect_Ident() {
	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL, dialect.Snowflake} {
		q, err := d.Ident("app.orders")
		fmt.Println(d.Name(), q, err)
	}
	_, err := dialect.Postgres.Ident(`orders"; DROP TABLE users; --`)
	fmt.Println(err)
	// Output:
	// postgres "app"."orders" <nil>
	// mysql `app`.`orders` <nil>
	// snowflake "APP"."ORDERS" <nil>
	// dialect: bad identifier "orders\"; DROP TABLE users; --": character '"' at offset 6; only letters, digits and underscores are allowed
}

func ExampleForDriver() {
	d, err := dialect.ForDriver("pgx")
	if err != nil {
		panic(err)
	}
	table, _ := d.Ident("orders")
	fmt.Printf("SELECT id FROM %s WHERE id = %s ORDER BY %s\n", table, d.Placeholder(1), d.Random())
	// Output:
	// SELECT id FROM "orders" WHERE id = $1 ORDER BY RANDOM()
}

func ExampleValidIdent() {
	fmt.Println(dialect.ValidIdent("public.orders"))
	fmt.Println(dialect.ValidIdent("2024_orders"))
	// Output:
	// <nil>
	// dialect: bad identifier "2024_orders": part 1 starts with digit '2'
}
