package cli

import (
	"flag"

	"github.com/startline/startline/loadtest"
)

// CapacityDefaults is the capacity search the commands start their flags
// from: loadtest's defaults, with a failing rate confirmed once more. A
// command sets its own MaxSteps, Budget and Start.
func CapacityDefaults() loadtest.CapacitySearch {
	return loadtest.CapacitySearch{MaxSteps: loadtest.DefaultCapacitySteps, Start: loadtest.DefaultCapacityStart,
		Factor: loadtest.DefaultCapacityFactor, Precision: loadtest.DefaultCapacityPrecision,
		MinAchieved: loadtest.DefaultMinAchieved, MaxErrorRate: loadtest.DefaultMaxErrorRate, Confirm: true}
}

// CapacityFlags registers the flags of a capacity search on fs, writing
// into s, whose fields hold their defaults: -steps, -budget, -start,
// -factor, -precision, -min-achieved, -max-error-rate and -confirm, named
// and described alike in every command that searches. prefix starts each
// flag's usage (a command where the search is optional says under which
// flag); startUsage describes -start, whose default differs between them.
// The SLO and the output files are each command's own.
func CapacityFlags(fs *flag.FlagSet, s *loadtest.CapacitySearch, prefix, startUsage string) {
	fs.IntVar(&s.MaxSteps, "steps", s.MaxSteps, prefix+"the most steps to run")
	fs.DurationVar(&s.Budget, "budget", s.Budget, prefix+"the most time to search for; 0 means no bound but -steps")
	fs.Float64Var(&s.Start, "start", s.Start, prefix+startUsage)
	fs.Float64Var(&s.Factor, "factor", s.Factor, prefix+"the rate's factor from one coarse step to the next")
	fs.Float64Var(&s.Precision, "precision", s.Precision, prefix+"stop bisecting when the failing rate is within this fraction above the passing one")
	fs.Float64Var(&s.MinAchieved, "min-achieved", s.MinAchieved, prefix+"the least share of the offered rate a passing step achieves")
	fs.Float64Var(&s.MaxErrorRate, "max-error-rate", s.MaxErrorRate, prefix+"the error rate a passing step stays below")
	fs.BoolVar(&s.Confirm, "confirm", s.Confirm, prefix+"run a failing rate once more before taking it as failed (a stall of a shared machine is not the system's)")
}
