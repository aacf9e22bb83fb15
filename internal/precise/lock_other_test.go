//go:build !linux

package precise

import "runtime"

// lockThread locks the calling goroutine to its thread (there is no timer
// slack to set), and returns what undoes it.
func lockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}
