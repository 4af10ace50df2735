package failover

import (
	"time"

	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/health"
)

// targetSource is where a pool hears a target's health: the target's own
// health.Monitor, or in a fleet the fleet's view of it (a fleet.Target,
// the quorum of its probers' verdicts). Both share one source per probe
// spec among every pool of the process, across reloads.
type targetSource interface {
	Subscribe(fn func(health.Update)) (unsubscribe func())
	EndHold()
	EarliestChange() time.Time
	Release()
}

// notifiedElsewhere is what a fleet's target adds: which member notifies
// its events ("" for this one).
type notifiedElsewhere interface {
	NotifiedBy() string
}

// acquireSource returns the source of target i's health: from the fleet
// when the pool is in one, else the target's monitor.
func (p *pool) acquireSource(i int) targetSource {
	if p.member != nil {
		return p.member.Watch(p.spec(i), p.policy == policyFastest || p.slowRTT > 0)
	}
	return health.Acquire(p.spec(i))
}

// notifiedBy names the fleet member that notifies an event about target
// i (or, for an event about the whole pool, i = -1: its first target's), or
// "" when this replica does. Overrides are this replica's own doing and are
// always notified here. Safe to call with p.mu held (it reads an atomic).
func (p *pool) notifiedBy(i int) string {
	if i < 0 {
		i = 0
	}
	sources := p.sourceList()
	if i >= len(sources) {
		return ""
	}
	if src, ok := sources[i].(notifiedElsewhere); ok {
		return src.NotifiedBy()
	}
	return ""
}

// fleetView returns the fleet's view of target i, if the pool is in a fleet.
func (p *pool) fleetView(i int) *fleet.View {
	sources := p.sourceList()
	if i >= len(sources) {
		return nil
	}
	if t, ok := sources[i].(*fleet.Target); ok {
		v := t.View()
		return &v
	}
	return nil
}

// sourceList returns the pool's sources of health, one per target; nil
// before start.
func (p *pool) sourceList() []targetSource {
	if s := p.sources.Load(); s != nil {
		return *s
	}
	return nil
}
