package health

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"time"
)

// maxStartDelay bounds the random delay before a target's first probe: long
// enough to spread many targets' first probes, short enough that every
// target has a verdict soon after start-up.
const maxStartDelay = 500 * time.Millisecond

// Monitor probes one address at a fixed interval and feeds the results
// through a Tracker.
type Monitor struct {
	Prober   Prober
	Addr     netip.Addr
	Interval time.Duration
	Timeout  time.Duration
	Tracker  *Tracker
	// Observe is called after every probe with its result, the tracker's
	// state and whether that state just changed. It runs on the monitor's
	// goroutine and must not block for long.
	Observe func(r Result, s State, changed bool)
}

// Run probes until ctx is cancelled. The first probe starts after a short
// random delay, the following ones every Interval with ±5 % jitter so that
// targets configured together do not stay in lock-step.
func (m *Monitor) Run(ctx context.Context) {
	timer := time.NewTimer(startDelay(m.Interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		r := m.probe(ctx)
		if ctx.Err() != nil {
			return // cut short by shutdown: not a verdict on the target
		}
		s, changed := m.Tracker.Observe(r.OK)
		m.Observe(r, s, changed)
		timer.Reset(jitter(m.Interval))
	}
}

func (m *Monitor) probe(ctx context.Context) Result {
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	return m.Prober.Probe(ctx, m.Addr)
}

func startDelay(interval time.Duration) time.Duration {
	return rand.N(min(interval/2, maxStartDelay) + 1)
}

func jitter(interval time.Duration) time.Duration {
	spread := interval / 20
	return interval - spread + rand.N(2*spread+1)
}
