package health

import (
	"sync"
	"sync/atomic"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

// maxWatchBytes bounds what a watched connection may receive (a banner, say)
// before the watch gives up on it.
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
