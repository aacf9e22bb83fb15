//go:build !linux

package precise

import "time"

// sleepKernel sleeps until about a millisecond before at on a Go timer,
// which may wake that late; Sleep spins for the rest.
func sleepKernel(at time.Time) {
	if d := time.Until(at) - time.Millisecond; d > 0 {
		time.Sleep(d)
	}
}
