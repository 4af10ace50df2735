package failover

import (
	"net"
	"slices"
	"time"

	"github.com/failover-dns/failover/events"
	"github.com/failover-dns/failover/health"
)

// eventLog is the process's event history, which the status listener
// shows. It outlives reloads, so a client reading it never misses the
// moment a configuration changed.
var eventLog = events.NewLog(events.DefaultCapacity, nil)

// emit appends an event about the pool. In a fleet, every replica
// records the fleet's events and one notifies them (see notifiedBy).
func (p *pool) emit(e events.Event) {
	if p.muted.Load() {
		return
	}
	e.Pool = p.name
	if e.Type != events.TypeOverrideApplied && e.Type != events.TypeOverrideLifted {
		e.NotifiedBy = p.notifiedBy(p.targetIndex(e.Target))
	}
	eventLog.Append(e)
}

// targetIndex is the index of the target labelled so, or -1 (also for "").
func (p *pool) targetIndex(label string) int {
	for i, t := range p.targets {
		if label != "" && t.label == label {
			return i
		}
	}
	return -1
}

// emitTargetChange records a target's new state from a probe round.
func (p *pool) emitTargetChange(i int, u health.Update) {
	e := events.Event{Type: events.TypeTargetUp, Target: p.targets[i].label}
	if u.State == health.Down {
		r := u.Result
		e.Type, e.Check, e.Reason, e.Detail = events.TypeTargetDown, r.Check, r.Reason, r.Detail
	}
	p.emit(e)
}

// emitAnswerChange records that a family's candidates changed. Called with p.mu held.
func (p *pool) emitAnswerChange(fam int, old, cur *answer) {
	if old == nil || slices.EqualFunc(old.ips, cur.ips, net.IP.Equal) {
		return
	}
	p.emit(events.Event{Type: events.TypeAnswerChanged, Family: familyType[fam], Old: ipStrings(old.ips), New: ipStrings(cur.ips)})
}

// emitHolds records hold-downs that started or ended. Called with p.mu held.
func (p *pool) emitHolds(now time.Time, news bool) {
	for i := range p.states {
		st := &p.states[i]
		onHold, until := p.held(*st, now)
		onHold = onHold && p.up(*st)
		if onHold == st.onHold {
			continue
		}
		st.onHold = onHold
		if !news {
			continue
		}
		e := events.Event{Type: events.TypeHoldEnded, Target: p.targets[i].label}
		if onHold {
			e.Type, e.Until = events.TypeHoldStarted, until
		}
		p.emit(e)
	}
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// emitConfigLoaded records what a server block's new configuration added
// and removed, compared with the one it replaces (prev, nil at start-up).
func (f *Failover) emitConfigLoaded(prev *Failover) {
	e := events.Event{Type: events.TypeConfigLoaded, Server: f.block}
	old := map[string]*pool{}
	if prev != nil {
		for _, p := range prev.pools {
			old[p.name] = p
		}
	}
	for _, p := range f.pools {
		was, kept := old[p.name]
		if !kept {
			e.PoolsAdded = append(e.PoolsAdded, p.name)
			continue
		}
		delete(old, p.name)
		added, removed := targetDiff(was, p)
		e.TargetsAdded = append(e.TargetsAdded, added...)
		e.TargetsRemoved = append(e.TargetsRemoved, removed...)
	}
	e.PoolsRemoved = prev.poolsIn(old)
	eventLog.Append(e)
}

// poolsIn returns the names of the handler's pools found in set, in
// configuration order.
func (f *Failover) poolsIn(set map[string]*pool) []string {
	if f == nil {
		return nil
	}
	var out []string
	for _, p := range f.pools {
		if set[p.name] != nil {
			out = append(out, p.name)
		}
	}
	return out
}

// targetDiff lists the targets a kept pool gained and lost.
func targetDiff(was, now *pool) (added, removed []events.PoolTarget) {
	has := func(p *pool, label string) bool {
		return slices.ContainsFunc(p.targets, func(t target) bool { return t.label == label })
	}
	for _, t := range now.targets {
		if !has(was, t.label) {
			added = append(added, events.PoolTarget{Pool: now.name, Target: t.label})
		}
	}
	for _, t := range was.targets {
		if !has(now, t.label) {
			removed = append(removed, events.PoolTarget{Pool: now.name, Target: t.label})
		}
	}
	return added, removed
}
