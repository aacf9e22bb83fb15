package profile

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNormalize covers what drivers other than SQLite and pgx return (the
// MySQL driver's []byte for every text-protocol value, gosnowflake's
// strings for NUMBER), which the integration tests cannot reach here.
func TestNormalize(t *testing.T) {
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		dbType string
		in     any
		want   any
	}{
		{"VARCHAR", []byte("abc"), "abc"},
		{"TEXT", []byte(""), ""},
		{"JSON", []byte(`{"a":1}`), `{"a":1}`},
		{"", []byte("x"), "x"},
		{"BLOB", []byte{0, 1}, []byte{0, 1}},
		{"LONGBLOB", []byte{2}, []byte{2}},
		{"VARBINARY", []byte{3}, []byte{3}},
		{"bytea", []byte{4}, []byte{4}},
		{"BINARY", []byte{5}, []byte{5}},
		{"INT", []byte("42"), int64(42)},
		{"UNSIGNED BIGINT", []byte("18446744073709551615"), float64(math.MaxUint64)},
		{"BIGINT", []byte("-9"), int64(-9)},
		{"DECIMAL", []byte("12.50"), 12.5},
		{"DECIMAL(10,2)", []byte("3.00"), 3.0},
		{"NUMERIC", "7.25", 7.25},
		{"FIXED", "123", int64(123)},
		{"NUMBER", "1e3", 1000.0},
		{"DOUBLE", []byte("0.5"), 0.5},
		{"TEXT", "12", "12"},
		{"POINT", []byte("(1,2)"), "(1,2)"},
		{"INTERVAL", "1 day", "1 day"},
		{"INT4", int32(7), int64(7)},
		{"SMALLINT", int16(-7), int64(-7)},
		{"TINYINT", int8(1), int64(1)},
		{"UNSIGNED INT", uint32(7), int64(7)},
		{"UNSIGNED BIGINT", uint64(7), int64(7)},
		{"UNSIGNED BIGINT", uint64(math.MaxUint64), float64(math.MaxUint64)},
		{"INT", 5, int64(5)},
		{"FLOAT4", float32(1.5), 1.5},
		{"BOOL", true, true},
		{"TIMESTAMP", at, at},
	}
	for _, tt := range tests {
		got, err := normalize(tt.in, kindOf(tt.dbType))
		require.NoError(t, err, "%s %#v", tt.dbType, tt.in)
		assert.Equal(t, tt.want, got, "%s %#v", tt.dbType, tt.in)
	}
	_, err := normalize([]byte("abc"), kindOf("DECIMAL"))
	assert.ErrorContains(t, err, `numeric column value "abc"`)
}

// FuzzLoad decodes arbitrary bytes as a saved profile. It must never panic,
// and whatever it accepts must survive Save and Load unchanged.
func FuzzLoad(f *testing.F) {
	good, err := encode(&Profile{Tables: map[string]*Table{
		"orders": {Name: "orders", MinID: 1, MaxID: 9, HasIDs: true, Values: map[string][]any{
			"c": {int64(1), 2.0, "s", true, []byte{1}, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		}},
	}})
	require.NoError(f, err)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"version":1,"tables":{}}`))
	f.Add([]byte(`{"version":1,"tables":{"t":{"name":"t","values":{"c":[1e400]}}}}`))
	f.Add([]byte(`{"version":1,"tables":{"t":{"name":"t","values":{"c":[{"time":"2024-01-01T00:00:00+14:00"},{"bytes":""}]}}}}`))
	f.Add([]byte(`{"version":1,"tables":{"t":{"name":"t","min_id":-9223372036854775808,"max_id":9223372036854775807}}}`))
	f.Add([]byte(`{"version":1,"tables":{"t":null}}`))
	f.Add([]byte("\xff\xfe"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decode(data)
		if err != nil {
			return
		}
		// Accepted: encoding is stable from the first round on.
		once, err := encode(p)
		if err != nil {
			t.Fatalf("decoded profile does not encode: %v", err)
		}
		p2, err := decode(once)
		if err != nil {
			t.Fatalf("encoded profile does not decode: %v\n%s", err, once)
		}
		twice, err := encode(p2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("round trip changed the profile:\n%s\n%s", once, twice)
		}
	})
}
