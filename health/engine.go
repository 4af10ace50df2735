package health

import (
	"sync/atomic"
)

// engine runs the monitors: it starts with the first one and stops with
// the last, so that a process without targets runs nothing. Its fields
// change with registry held; monitors use them only while they run.
var engine probeEngine

type probeEngine struct {
	sched   *scheduler
	watches *poller      // nil when the watch cannot work here
	live    int          // monitors acquired and not fully released
	budget  int64        // watch connections allowed (watchBudget, read at start)
	watched atomic.Int64 // watch connections open or being opened
}

// start starts the scheduler and the poller if they are not running.
func (e *probeEngine) start() {
	if e.sched != nil {
		return
	}
	p, err := newPoller()
	if err != nil {
		logger.Warningf("The connection watch is off: %v", err)
	}
	e.watches = p
	e.budget = int64(watchBudget())
	e.sched = newScheduler(maxWorkers())
}

// stop stops them; no monitor may be left.
func (e *probeEngine) stop() {
	e.sched.close()
	if e.watches != nil {
		e.watches.close()
	}
	e.sched, e.watches = nil, nil
}

// reserveWatch takes a place in the watch budget, if one is left.
func (e *probeEngine) reserveWatch() bool {
	if e.watched.Add(1) > e.budget {
		e.watched.Add(-1)
		return false
	}
	return true
}

func (e *probeEngine) releaseWatch() { e.watched.Add(-1) }

// maxWorkers bounds the probe rounds running at once. Each holds at least
// one descriptor while it runs, and a round whose probes wait out their
// timeout holds its worker that long: a quarter of the descriptor limit
// (the watch may take half) leaves room for both, and for the DNS server.
func maxWorkers() int {
	return min(max(descriptorLimit()/4, 64), 4096)
}
