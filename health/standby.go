package health

import "sync"

// Standby is a reference to a shared Monitor that asks for probing only
// while its holder says so. A fleet member holds one for every target it
// may have to probe, and probes only those assigned to it: the monitor
// must exist (it owns the checks, and the assignment may change at any
// moment) but costs nothing while no reference asks for probing.
//
// A monitor probes while at least one reference asks for it: every Acquire
// does, always, and each Standby while SetProbing(true). With none, the
// monitor is idle:
//
//   - no round starts (one under way finishes, and its update is
//     delivered), the watch connection is closed, and the scheduler does
//     no work for it;
//   - NextProbe and EarliestChange return the zero time;
//   - it keeps the state of its last round: a new subscriber's replay shows
//     it, with Replay set.
//
// When a reference asks again, the monitor starts afresh: the state is
// Unknown (a new subscriber gets no replay), the first round comes after
// the same random start delay as a new monitor's (see MaxStartSpread) and
// gives a first verdict, with Changed and a new Since. The smoothed RTT and
// Passed are kept.
//
// SetProbing may be called from any goroutine, from a subscriber too, and
// with a lock held that subscribers take: it never takes the monitor's own
// lock (subscribers run with it held). Release, like Monitor.Release, waits
// for a round under way when it drops the last reference, so it must not
// be called with such a lock held.
type Standby struct {
	m *Monitor

	mu       sync.Mutex // serializes SetProbing and Release
	probing  bool       // this reference asks for probing
	released bool
}

// AcquireStandby returns a reference to the Monitor that Acquire(spec)
// would return, without asking for probing: a monitor it starts is idle
// until SetProbing(true). Every AcquireStandby needs a Release.
func AcquireStandby(spec Spec) *Standby {
	registry.Lock()
	defer registry.Unlock()
	return &Standby{m: reference(spec)}
}

// Monitor returns the shared monitor, to subscribe to it and read its RTT,
// NextProbe and EarliestChange, or to call EndHold. Release the Standby,
// never the Monitor.
func (sb *Standby) Monitor() *Monitor { return sb.m }

// SetProbing makes this reference ask for probing (on) or not. Calling it
// again with the same value, or after Release, does nothing.
func (sb *Standby) SetProbing(on bool) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.released || sb.probing == on {
		return
	}
	sb.probing = on
	if on {
		sb.m.sched.raiseDemand(sb.m)
		return
	}
	if sb.m.sched.lowerDemand(sb.m) {
		sb.m.quietIfIdle()
	}
}

// Release drops the reference and its demand for probing, if it had one;
// the last reference stops the monitor as Monitor.Release does. Later
// calls do nothing.
func (sb *Standby) Release() {
	sb.mu.Lock()
	if sb.released {
		sb.mu.Unlock()
		return
	}
	sb.released = true
	demanding := sb.probing
	sb.probing = false
	sb.mu.Unlock()
	sb.m.drop(demanding)
}
