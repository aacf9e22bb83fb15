// Package profile learns what a workload needs about its tables before a
// run starts: the range of each table's integer key, and a random sample of
// values from chosen columns (the "value pools" that queries draw their
// parameters from). This is the setup.profile phase, and it belongs before
// the start signal: nothing here should sit between the start and the first
// query.
//
// Two Profilers are provided:
//
//   - [SQLProfiler] queries the database: SELECT MIN(key), MAX(key) per
//     table and SELECT col ... ORDER BY RANDOM() LIMIT K per column, all
//     concurrently with a bound. Names are validated and quoted by the
//     [github.com/startline/startline/pool/dialect] package before any query
//     is sent.
//   - [FileProfiler] loads a profile written earlier by [Save], which is
//     much faster than sampling large tables on every run.
//
// During the run, workers draw from the [Profile] with [Table.RandomID] and
// [Table.Value], which take the worker's own *rand.Rand and do not allocate,
// so they can sit on the hot path.
//
// Sampled values have one Go type per kind whatever the driver: integers are
// int64, other numbers float64, text string (never []byte), binary columns
// []byte and times time.Time. [Save] and [Load] keep those types.
package profile
