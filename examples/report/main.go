// Command report renders JSON results, as the examples write them with
// -json, as a self-contained HTML report and as text.
//
//	go run ./examples/report -in result.json -html report.html
//	go run ./examples/report -in a.json -in b.json -text
//
// Several -in files (the results of the processes of one distributed run)
// are merged into one result with loadtest.Merge first. A merged result
// (several -in, or the one examples/distributed writes with -json) is
// drawn as a fleet: one waterfall row per phase whatever the number of
// nodes, the start across the nodes, and each node's own startup in a
// collapsed section (see package loadtest/report). -csv and -jsonl
// write the interval series for plotting elsewhere.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"

	"github.com/startline/startline/internal/cli"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/report"
)

// files is a repeatable flag.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	cli.Main("report", func(_ context.Context, args []string, stdout, _ io.Writer) error {
		return run(args, stdout)
	})
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var in files
	fs.Var(&in, "in", "a JSON result file (repeat for the processes of one run: they are merged)")
	htmlPath := fs.String("html", "", "write the HTML report to this file")
	text := fs.Bool("text", false, "print the text report")
	csvPath := fs.String("csv", "", "write the intervals as CSV to this file")
	jsonlPath := fs.String("jsonl", "", "write the intervals as JSON lines to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(in) == 0 {
		return errors.New("no -in file given")
	}
	if *htmlPath == "" && !*text && *csvPath == "" && *jsonlPath == "" {
		return errors.New("nothing to do: give -html FILE, -text, -csv FILE or -jsonl FILE")
	}
	results := make([]*loadtest.Result, len(in))
	for i, path := range in {
		res, err := loadtest.ReadResultFile(path)
		if err != nil {
			return err
		}
		results[i] = res
	}
	res := results[0]
	if len(results) > 1 {
		var err error
		if res, err = loadtest.Merge(results...); err != nil {
			return err
		}
	}
	if *text {
		if err := res.WriteText(stdout); err != nil {
			return err
		}
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{
		{*htmlPath, func(w io.Writer) error { return report.WriteHTML(w, res) }},
		{*csvPath, func(w io.Writer) error { return report.WriteIntervalsCSV(w, res) }},
		{*jsonlPath, func(w io.Writer) error { return report.WriteIntervalsJSONL(w, res) }},
	} {
		if out.path == "" {
			continue
		}
		if err := cli.WriteFile(out.path, out.write); err != nil {
			return err
		}
	}
	return nil
}
