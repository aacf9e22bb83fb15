package cli_test

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/cli"
)

func TestList(t *testing.T) {
	var l cli.List
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&l, "slo", "")
	require.NoError(t, fs.Parse([]string{"-slo", "p99<5s", "-slo", " p50<1s , error_rate<0.01,", "-slo", ""}))
	assert.Equal(t, cli.List{"p99<5s", "p50<1s", "error_rate<0.01"}, l, "repeated and comma-separated items, trimmed, empty ones dropped")
	assert.Equal(t, "p99<5s,p50<1s,error_rate<0.01", l.String())
}
