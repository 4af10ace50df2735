package health

import (
	"cmp"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

// maxWatchBytes bounds what a watched connection may receive (a banner, say)
// before the watch gives up on it (until the next scheduled round opens
// another).
const maxWatchBytes = 64 << 10

// watchBudget returns how many connections the watch may hold open at once:
// half of the process's file-descriptor limit, so that probes, the DNS
// server and everything else in the process keep the other half.
func watchBudget() int {
	if n := watchBudgetOverride.Load(); n > 0 {
		return int(n)
	}
	return max(descriptorLimit()/2, 1)
}

// watchBudgetOverride replaces watchBudget's figure in tests.
var watchBudgetOverride atomic.Int64

var logger = clog.NewWithPlugin("failover")

// budgetLogged makes the budget's log line appear once per process.
var budgetLogged sync.Once

// overBudget notes that a target goes unwatched for the budget.
func overBudget(budget int64) {
	budgetLogged.Do(func() {
		logger.Warningf("Watching at most %d idle connections (half the file-descriptor limit): targets beyond that are probed on their schedule only, without the watch (see the metric coredns_failover_unwatched_targets)", budget)
	})
}

// arm opens the watch connection to the port of the first TCP-based check,
// if none is open, within the process's watch budget (see watchBudget). It
// runs after a successful probe, so a DOWN target gets no extra connection
// attempts.
func (m *Monitor) arm() {
	// An idle monitor holds no connection. pause marks the monitor idle
	// before its caller closes the watch, and this checks after opening
	// one, so a watch opened by a round that ends as the monitor goes idle
	// is closed by whichever comes last.
	defer m.quietIfIdle()
	if m.watching.Load() || !m.probing.Load() {
		return
	}
	for _, c := range m.spec.Checks {
		if !c.watchable() || m.watches == nil {
			continue
		}
		if !m.engine.reserveWatch() {
			m.setUnwatched(true)
			return
		}
		dst := netip.AddrPortFrom(m.spec.Addr, cmp.Or(m.spec.Port, c.port))
		dialer := resettingDialer{net.Dialer{Timeout: m.spec.Timeout}}
		ctx, cancel := m.operation(m.spec.Timeout)
		conn, err := dialer.dial(ctx, dst)
		m.endOperation(cancel)
		if err != nil {
			m.engine.releaseWatch()
			return
		}
		m.setUnwatched(false)
		m.watchMu.Lock()
		defer m.watchMu.Unlock()
		stop, err := m.watches.add(conn, m.watchEnded)
		if err != nil {
			conn.Close()
			m.engine.releaseWatch()
			return
		}
		m.unwatch = stop
		m.watching.Store(true)
		return
	}
}

// watchEnded is called when the watched connection ended by itself. Its
// watch place is released either way, so that the next successful round
// watches the target again. When the target closed or reset it, the next
// round is due at once; when the watch gave up on a target that sends too
// much, that is no sign of failure, and the schedule goes on.
func (m *Monitor) watchEnded(peerClosed bool) {
	m.disarm()
	if peerClosed {
		m.sched.now(m)
	}
}

// disarm closes the watch connection, if one is open.
func (m *Monitor) disarm() {
	m.watchMu.Lock()
	stop := m.unwatch
	m.unwatch = nil
	m.watching.Store(false)
	m.watchMu.Unlock()
	if stop != nil {
		stop()
		m.engine.releaseWatch()
	}
}

// quietIfIdle closes the watch of a monitor that no longer probes, and
// takes it out of the unwatched count: an idle target holds no connection,
// and it is not a probed target going without the watch.
func (m *Monitor) quietIfIdle() {
	if m.probing.Load() {
		return
	}
	m.disarm()
	m.setUnwatched(false)
}

// setUnwatched notes whether the target goes unwatched for the watch
// budget, for the metric.
func (m *Monitor) setUnwatched(over bool) {
	m.watchMu.Lock()
	defer m.watchMu.Unlock()
	if m.unwatched == over {
		return
	}
	m.unwatched = over
	if over {
		unwatchedTargets.Inc()
		overBudget(m.engine.budget)
	} else {
		unwatchedTargets.Dec()
	}
}
