package health

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

// TestTenThousandTargetsLeakNothing starts 10,000 monitors with real TCP
// checks and the watch on, waits until every one is UP, and stops them all:
// no goroutine, descriptor or watch slot is left. The watch budget is set
// to 2,000 here (half this process's limit would leave no descriptors for
// the test's own server side of 10,000 watched connections), so 8,000
// targets go unwatched and the metric says so.
func TestTenThousandTargetsLeakNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 targets: not in -short")
	}
	const targets, budget = 10000, 2000
	ignore := goleak.IgnoreCurrent()
	descriptors := openDescriptors(t)
	watchBudgetOverride.Store(budget)
	defer watchBudgetOverride.Store(0)

	ln, port := serveTCP(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	var monitors []*Monitor
	var recs []*recorder
	for i := range targets {
		c, err := NewCheck(CheckConfig{URL: "tcp://www.example.org:" + port, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		// Equal specs would share one monitor: the interval tells them apart.
		m := Acquire(Spec{Addr: loopback, Checks: []*Check{c}, Watch: true,
			Interval: 2*time.Second + time.Duration(i)*time.Microsecond, FastInterval: 500 * time.Millisecond,
			Timeout: time.Second, Rise: 1, Fall: 3})
		rec := &recorder{}
		m.Subscribe(rec.add)
		monitors, recs = append(monitors, m), append(recs, rec)
	}
	if Running() != targets {
		t.Fatalf("%d monitors run, want %d", Running(), targets)
	}
	waitFor(t, time.Minute, "every target UP", func() bool {
		for _, r := range recs {
			if u := r.snapshot(); len(u) == 0 || u[len(u)-1].State != Up {
				return false
			}
		}
		return true
	})
	waitFor(t, 30*time.Second, "the watch budget filled", func() bool {
		return testutil.ToFloat64(unwatchedTargets) == targets-budget && engine.watched.Load() == budget
	})
	for _, r := range recs {
		for _, u := range r.snapshot() {
			if u.State != Up {
				t.Fatalf("A target went %s: %+v", u.State, u.Result)
			}
		}
	}

	for _, m := range monitors {
		m.Release()
	}
	ln.Close()
	if n := Running(); n != 0 {
		t.Errorf("%d monitors still run after every release", n)
	}
	if got := testutil.ToFloat64(unwatchedTargets); got != 0 {
		t.Errorf("unwatched_targets is %v after every release, want 0", got)
	}
	if n := engine.watched.Load(); n != 0 {
		t.Errorf("%d watch slots still taken after every release", n)
	}
	// The server side sees the watch connections' resets and closes its ends.
	waitFor(t, 30*time.Second, "descriptors back to their number before the test", func() bool {
		return openDescriptors(t) <= descriptors
	})
	if err := goleak.Find(ignore); err != nil {
		t.Error(err)
	}
}

func openDescriptors(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("Cannot count descriptors here: %v", err)
	}
	return len(entries)
}
