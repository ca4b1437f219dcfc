package gatetest

import (
	"testing"
	"time"
)

// Eventually checks cond every 10 ms until it holds, and fails the test if
// it does not within WaitTimeout. It is for conditions nothing signals
// (a metric, a file, a peer's state); where a channel or a Recorder
// can tell, wait on that instead.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Poll(WaitTimeout, cond) {
		t.Fatalf("gatetest: %s: not within %v", what, WaitTimeout)
	}
}

// Poll checks cond every 10 ms until it holds or timeout passes and
// reports whether it held.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
	return true
}
