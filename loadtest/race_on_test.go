//go:build race

package loadtest_test

// raceEnabled: the race detector allows at most 8128 live goroutines.
const raceEnabled = true
