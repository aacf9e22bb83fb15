package cli

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/startline/startline/loadtest"
)

// TestCapacityFlags: the defaults are the search's fields as given, the
// flags set the fields they name, and every usage starts with the prefix.
func TestCapacityFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := loadtest.CapacitySearch{MaxSteps: 6, Budget: time.Minute, Start: 50, Factor: 2, Precision: 0.05,
		MinAchieved: 0.99, MaxErrorRate: 0.001, Confirm: true}
	want := s
	CapacityFlags(fs, &s, "with -capacity: ", "the first rate")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if s.MaxSteps != want.MaxSteps || s.Budget != want.Budget || s.Start != want.Start || s.Factor != want.Factor ||
		s.Precision != want.Precision || s.MinAchieved != want.MinAchieved || s.MaxErrorRate != want.MaxErrorRate || s.Confirm != want.Confirm {
		t.Errorf("defaults: got %+v, want %+v", s, want)
	}
	if err := fs.Parse([]string{"-steps", "3", "-budget", "5s", "-start", "7", "-factor", "3", "-precision", "0.1",
		"-min-achieved", "0.5", "-max-error-rate", "0.2", "-confirm=false"}); err != nil {
		t.Fatal(err)
	}
	if s.MaxSteps != 3 || s.Budget != 5*time.Second || s.Start != 7 || s.Factor != 3 || s.Precision != 0.1 ||
		s.MinAchieved != 0.5 || s.MaxErrorRate != 0.2 || s.Confirm {
		t.Errorf("after the flags: got %+v", s)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Usage, "with -capacity: ") {
			t.Errorf("-%s: usage %q lacks the prefix", f.Name, f.Usage)
		}
	})
}
