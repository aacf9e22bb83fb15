package sqlcoord

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestLooseInt covers the values drivers hand over for an integer column:
// what is an integer converts, what is not sets Err without failing Scan.
func TestLooseInt(t *testing.T) {
	for _, c := range []struct {
		src   any
		want  int64
		valid bool
		bad   bool
	}{
		{nil, 0, false, false},
		{int64(42), 42, true, false},
		{float64(7), 7, true, false},
		{-3.0, -3, true, false},
		{2.5, 0, false, true},
		{math.Inf(1), 0, false, true},
		{math.NaN(), 0, false, true},
		{float64(math.MaxInt64), 0, false, true}, // 2^63: out of range
		{"10", 10, true, false},
		{[]byte("-12"), -12, true, false},
		{"10.5", 0, false, true},
		{"many", 0, false, true},
		{"99999999999999999999", 0, false, true},
		{true, 0, false, true},
	} {
		var l looseInt
		assert.NoError(t, l.Scan(c.src), "%#v", c.src)
		assert.Equal(t, c.want, l.Int64, "%#v", c.src)
		assert.Equal(t, c.valid, l.Valid, "%#v", c.src)
		assert.Equal(t, c.bad, l.Err != nil, "%#v: %v", c.src, l.Err)
	}
}
