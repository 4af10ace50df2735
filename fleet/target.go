package fleet

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/failover-dns/failover/health"
)

// Target is the fleet's view of one target (one probe spec): who probes
// it, their verdicts, and the state the quorum gives. Pools subscribe to it
// as they would to the target's health.Monitor, and hear the fleet's state.
type Target struct {
	f       *Fleet
	id      string
	spec    health.Spec
	standby *health.Standby
	unsub   func()
	refs    int // guarded by f.mu

	// Read without a lock by pools (queries, status).
	rtt        atomic.Int64           // the fleet's RTT (ns): see fleetRTT
	notifier   atomic.Pointer[string] // who notifies the target's events: see NotifiedBy
	probingNow atomic.Bool

	// Guarded by f.mu.
	probers     []string // current probers, best-ranked first
	probing     bool     // this member probes it (standby demand on)
	orphan      bool     // too few probers have verdicts: see Fleet.orphans
	steersByRTT bool     // a pool steers by its RTT (see Fleet.Watch)
	silentSince time.Time
	local       health.Update // the monitor's last update while probing here
	hasLocal    bool
	own         *Verdict  // this member's verdict, as published or about to be
	ownRTTAt    time.Time // when own's RTT was last published
	dec         decision
	recovered   bool // UP after DOWN, until EndHold (the pools' hold-down)
	passed      bool
	subs        []subscriber
	nextID      uint64
}

type subscriber struct {
	id uint64
	fn func(health.Update)
}

func newTarget(f *Fleet, id string, spec health.Spec) *Target {
	return &Target{f: f, id: id, spec: spec, refs: 1, standby: health.AcquireStandby(spec)}
}

// ID is the target's name in etcd: a hash of its probe spec.
func (t *Target) ID() string { return t.id }

// listen subscribes to the monitor. Not under f.mu (see Watch).
func (t *Target) listen() {
	t.unsub = t.standby.Monitor().Subscribe(t.onLocal)
}

// stop undoes listen and drops the monitor. Not under f.mu.
func (t *Target) stop() {
	t.unsub()
	t.standby.Release()
}

// Release drops a reference taken by Fleet.Watch.
func (t *Target) Release() { t.f.release(t) }

// setProbing asks the monitor to probe, or not. Called with f.mu held.
func (t *Target) setProbing(on bool) {
	if t.probing == on {
		return
	}
	t.probing = on
	t.probingNow.Store(on)
	if on {
		t.f.probed++
	} else {
		t.f.probed--
		t.hasLocal = false
	}
	probedGauge.Set(float64(t.f.probed))
	t.standby.SetProbing(on)
}

// onLocal takes a probe round of this member's monitor. It runs with the
// monitor's lock held (health calls subscribers so).
func (t *Target) onLocal(u health.Update) {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if !t.probing || u.State == health.Unknown {
		return // a shared monitor's round while the fleet does not ask for it here
	}
	now := time.Now()
	t.local, t.hasLocal = u, true
	f.noteOwn(t, u, now)
	changed, rttChanged := f.decide(t, now)
	switch {
	case !u.Replay:
		t.deliver(t.update(u.Result, changed, false))
	case changed || rttChanged:
		t.deliver(t.update(t.result(), changed, true))
	}
}

// Subscribe calls fn with the fleet's state of the target after every
// change, and after every probe round this member runs on it, until the
// returned function is called. Like health.Monitor's: a known state is
// replayed at once, and fn is called with a lock held (the fleet's): it
// must not block, nor call Subscribe or an unsubscribe function.
func (t *Target) Subscribe(fn func(health.Update)) (unsubscribe func()) {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	id := t.nextID
	t.nextID++
	t.subs = append(t.subs, subscriber{id, fn})
	if t.dec.state != health.Unknown {
		u := t.update(t.result(), true, true)
		u.Replay = true
		fn(u)
	}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		t.subs = slices.DeleteFunc(t.subs, func(s subscriber) bool { return s.id == id })
	}
}

// EndHold ends the target's failback hold-down, as health.Monitor's does:
// subscribers hear a replayed, changed update with Recovered false, on
// another goroutine, so that callers may hold locks subscribers take.
func (t *Target) EndHold() {
	f := t.f
	f.holds.Go(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !t.recovered {
			return
		}
		t.recovered = false
		u := t.update(t.result(), true, true)
		u.Replay = true
		t.deliver(u)
	})
}

// RTT is the target's round-trip time as the fleet knows it: what its
// best-ranked prober published (so that every replica steers alike), or
// this member's own measure while it decides alone.
func (t *Target) RTT() time.Duration { return time.Duration(t.rtt.Load()) }

// EarliestChange bounds when the state could next change, for the
// adaptive TTL: another prober could be about to end its confirmations, so
// the bound is the fast rounds a change needs at the least, or this
// member's own monitor's bound while it probes, if that is sooner.
func (t *Target) EarliestChange() time.Time {
	others := time.Now().Add(time.Duration(t.spec.Fall-1) * t.spec.FastInterval)
	if own := t.standby.Monitor().EarliestChange(); t.probingNow.Load() && own.Before(others) {
		return own
	}
	return others
}

// NotifiedBy names the member that notifies the target's events, or ""
// when this one does: its best-ranked prober does, or every member while it
// decides alone, so that a fleet event is heard once.
func (t *Target) NotifiedBy() string {
	if p := t.notifier.Load(); p != nil {
		return *p
	}
	return ""
}

// Leads reports whether this member notifies the target's events.
func (t *Target) Leads() bool { return t.NotifiedBy() == "" }

// update is what subscribers hear. Called with f.mu held.
func (t *Target) update(r health.Result, changed, remote bool) health.Update {
	return health.Update{
		Result: r, State: t.dec.state, Since: t.dec.since, Recovered: t.recovered, Passed: t.passed,
		Changed: changed, RTT: t.RTT(), Remote: remote, Shared: !t.alone(),
	}
}

// alone reports whether this member decides the target by itself: in
// local mode, or while its probers are silent. Called with f.mu held.
func (t *Target) alone() bool { return t.f.mode == Local || t.orphan }

// result is the decided state as a probe result: the failure of the
// verdict that made a DOWN quorum (or this member's own, deciding alone).
// Called with f.mu held.
func (t *Target) result() health.Result {
	if t.dec.state != health.Down {
		return health.Result{OK: true}
	}
	v := t.dec.failure
	return health.Result{Reason: v.Reason, Check: v.Check, Detail: v.Detail}
}

// deliver hands u to every subscriber. Called with f.mu held.
func (t *Target) deliver(u health.Update) {
	for _, s := range t.subs {
		s.fn(u)
	}
}

// targetSeed is what a target carries over to the fleet that takes its
// member over (see Fleet.takeOver).
type targetSeed struct {
	found     bool
	dec       decision
	recovered bool
	passed    bool
	own       *Verdict
	ownRTTAt  time.Time
	rtt       int64
}

// snapshot returns the state of f's target id, if f (a predecessor; may be
// nil) has it.
func (f *Fleet) snapshot(id string) targetSeed {
	if f == nil {
		return targetSeed{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.targets[id]
	if t == nil {
		return targetSeed{}
	}
	return targetSeed{found: true, dec: t.dec, recovered: t.recovered, passed: t.passed, own: t.own, ownRTTAt: t.ownRTTAt, rtt: t.rtt.Load()}
}

// into seeds t. Called with t's fleet's lock held, before anyone listens.
func (s targetSeed) into(t *Target) {
	if !s.found {
		return
	}
	t.dec, t.recovered, t.passed, t.own, t.ownRTTAt = s.dec, s.recovered, s.passed, s.own, s.ownRTTAt
	t.rtt.Store(s.rtt)
	if s.own != nil {
		t.f.setVerdict(t.id, t.f.cfg.Member, *s.own)
		t.f.markDirty(t.id)
	}
}
