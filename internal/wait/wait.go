// Package wait polls a condition in tests, with a deadline instead of a
// fixed sleep.
package wait

import (
	"testing"
	"time"
)

// For polls cond every interval until it holds, failing the test after
// limit with a message naming what it waited for.
func For(t testing.TB, limit, interval time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("Timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(interval)
	}
}
