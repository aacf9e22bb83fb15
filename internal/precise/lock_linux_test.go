package precise

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// lockThread locks the calling goroutine to its thread with a 1 ns timer
// slack, and returns what undoes it.
func lockThread() func() {
	runtime.LockOSThread()
	old, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	return func() {
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
		runtime.UnlockOSThread()
	}
}
