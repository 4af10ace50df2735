package failover

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failover-dns/failover/events"
	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/health"

	"github.com/prometheus/client_golang/prometheus"
)

// clock is a pool's time source; tests drive hold-downs, adaptive TTLs and
// policies with a fake one instead of sleeping.
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels that.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// pool is a running pool: its fixed configuration, the state of its
// targets, and the answers published from them. publish is the one place
// where a decision (the pure choose) turns into published answers, metrics,
// logs and timers.
type pool struct {
	*poolConfig
	overrides *atomic.Pointer[overrideSet] // nil without an overrides file
	clock     clock

	member *fleet.Fleet // the fleet this replica is a member of; nil without one
	// sources: one per target once started (kept after stop for late
	// queries); set once, read by queries and the status listener.
	sources atomic.Pointer[[]targetSource]
	unsubs  []func()

	answers  [families]atomic.Pointer[answer]
	regional [families][]atomic.Pointer[answer] // per region; nil: use answers
	ready    atomic.Bool                        // every target has a first verdict
	changeAt atomic.Int64                       // UnixNano when a hold-down ends and answers change; 0: none
	counters atomic.Pointer[answerCounters]
	muted    atomic.Bool // a newer configuration records the events

	mu        sync.Mutex // guards the fields below; held by probe and timer goroutines only
	states    []targetState
	verdicts  int
	failOpen  [families]bool
	stopTimer func() bool // cancels the republish when a hold-down ends
	timerAt   time.Time
	stopped   bool
	// fastest is policy fastest's memory per family: [0] for the answer to
	// all clients, [1+r] for region r's. nil under other policies.
	fastest [families][]*fastestMemory
	// Metric series looked up once (see countProbe); nil until first used.
	probeOK   prometheus.Counter
	probeTime prometheus.Observer
	rttGauges []prometheus.Gauge
}

func newPool(cfg *poolConfig, overrides *atomic.Pointer[overrideSet], clk clock) *pool {
	p := &pool{poolConfig: cfg, overrides: overrides, clock: clk, states: make([]targetState, len(cfg.targets)),
		rttGauges: make([]prometheus.Gauge, len(cfg.targets))}
	for fam := range p.regional {
		p.regional[fam] = make([]atomic.Pointer[answer], len(cfg.regions))
		if cfg.policy == policyFastest {
			for range 1 + len(cfg.regions) {
				p.fastest[fam] = append(p.fastest[fam], newFastestMemory(len(cfg.targets)))
			}
		}
	}
	p.publish(false)
	return p
}

// start subscribes to one monitor per target, sharing monitors with every
// other pool (and the previous configuration) that probes the same way.
func (p *pool) start() {
	acquireSeries(p)
	targetOverride.DeletePartialMatch(prometheus.Labels{"pool": p.name}) // the new configuration says anew
	p.exportSlow()
	sources := make([]targetSource, len(p.targets))
	for i := range p.targets {
		sources[i] = p.acquireSource(i)
	}
	p.sources.Store(&sources)
	// Overrides first, then the states running monitors hand over: neither
	// is news, so an all-down they add up to was counted by the previous
	// configuration already.
	p.applyOverrides(false)
	for i, src := range sources {
		p.unsubs = append(p.unsubs, src.Subscribe(func(u health.Update) { p.observe(i, u) }))
	}
}

// exportSlow sets the pool's slow series anew: one per target with
// slow_rtt (noteSlow keeps them), none without.
func (p *pool) exportSlow() {
	targetSlow.DeletePartialMatch(prometheus.Labels{"pool": p.name})
	if p.slowRTT == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, t := range p.targets {
		targetSlow.WithLabelValues(p.name, t.label).Set(gaugeOf(p.states[i].slow))
	}
}

// inherit carries over, from the pool of the same name in the
// configuration this one replaces, what the status view shows of the
// targets both have: their state history (for uptime) and transition count.
func (p *pool) inherit(old *pool) {
	if old == nil {
		return
	}
	// The status view may read this pool already (it is the newest). No
	// other code holds two pools' locks.
	p.mu.Lock()
	defer p.mu.Unlock()
	old.mu.Lock()
	defer old.mu.Unlock()
	for i, t := range p.targets {
		for j, o := range old.targets {
			if o.label == t.label {
				p.states[i].history = slices.Clone(old.states[j].history)
				p.states[i].transitions = old.states[j].transitions
				p.states[i].slow = p.slowRTT > 0 && old.states[j].slow
			}
		}
	}
	p.inheritFastest(old)
}

// inheritFastest carries over which targets policy fastest answers, so
// that a reload does not move the answer back to the first target until
// the margin has been beaten again. Called with both pools' locks held.
func (p *pool) inheritFastest(old *pool) {
	index := map[string]int{}
	for i, t := range p.targets {
		index[t.label] = i
	}
	scope := func(q *pool, s int) string { // the region of a memory, "" for all clients
		if s == 0 {
			return ""
		}
		return q.regions[s-1].name
	}
	for fam := range p.fastest {
		for s, mem := range p.fastest[fam] {
			for os, omem := range old.fastest[fam] {
				if scope(old, os) != scope(p, s) {
					continue
				}
				mem.chosen = mem.chosen[:0] // newPool chose before knowing any RTT
				for _, j := range omem.chosen {
					if i, ok := index[old.targets[j].label]; ok {
						mem.chosen = append(mem.chosen, i)
					}
				}
			}
		}
	}
}

// stop unsubscribes and releases what start acquired; monitors nobody
// else uses stop, and Release waits for their goroutines.
func (p *pool) stop() {
	p.mu.Lock()
	p.stopped = true
	if p.stopTimer != nil {
		p.stopTimer()
	}
	p.mu.Unlock()
	for i, src := range p.sourceList() {
		p.unsubs[i]()
		src.Release()
	}
	p.unsubs = nil // sources stays: queries may still read it for the adaptive TTL
	releaseSeries(p)
}

// observe takes a monitor's update on target i. It runs on the monitor's
// goroutine (or in Subscribe, for the state a running monitor hands over).
func (p *pool) observe(i int, u health.Update) {
	r, s := u.Result, u.State
	if steer := p.noteProbe(i, u); !u.Changed {
		if steer {
			p.mu.Lock()
			p.publish(!u.Replay)
			p.mu.Unlock()
		}
		return
	}

	t := p.targets[i]
	targetUp.WithLabelValues(p.name, t.label).Set(gaugeOf(s == health.Up))

	p.mu.Lock()
	defer p.mu.Unlock()
	// Count and log every change, but not a state handed over from a running
	// monitor by a reload, and not a first verdict of UP: at start-up that
	// is the normal case for every target and would only be noise.
	if !u.Replay {
		transitionsTotal.WithLabelValues(p.name, t.label, s.String()).Inc()
		switch {
		case !r.OK:
			log.Infof("Pool %s: target %s is %s: %s", p.name, t.label, s, r)
		case p.states[i].health != health.Unknown:
			log.Infof("Pool %s: target %s is %s", p.name, t.label, s)
		}
	}
	st := &p.states[i]
	if !u.Replay {
		st.transitions++
		p.emitTargetChange(i, u)
	}
	st.history = st.history.add(u.Since, s)
	if st.health == health.Unknown {
		p.verdicts++
		if p.verdicts == len(p.targets) {
			p.ready.Store(true)
		}
	}
	st.health, st.since, st.recovered = s, u.Since, u.Recovered
	st.passed = st.passed || u.Passed || s == health.Up
	if st.recovered && st.forced == overrideUp {
		p.endHold(i)
	}
	p.publish(!u.Replay)
}

// noteProbe records what the metrics and the status view show of a probe
// round: its result, when it ended, how long it took, and the last failure;
// and the target's RTT, which steers answers. It reports whether the
// answers must be decided again for that (policy fastest, or the target
// became slow or stopped being slow).
func (p *pool) noteProbe(i int, u health.Update) (steer bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := &p.states[i]
	if !u.Replay && !u.Remote { // a probe round of this process
		st.lastProbe, st.lastDuration = p.clock.Now(), u.Result.Duration
		p.countProbe(u.Result)
	}
	rttBefore := st.rtt
	if u.RTT > 0 {
		st.rtt = u.RTT
		if p.rttGauges[i] == nil {
			p.rttGauges[i] = targetRTT.WithLabelValues(p.name, p.targets[i].label)
		}
		p.rttGauges[i].Set(u.RTT.Seconds())
	}
	// Only a passed round is a sample of the RTT (u.RTT is the smoothed
	// one, which a failed round leaves as it was): it counts for a
	// challenger under policy fastest, and a failed one ends its streak.
	switch {
	case u.Replay:
	case u.Shared:
		p.noteSharedRound(i, u, rttBefore)
	case u.Result.OK && u.RTT > 0:
		st.rounds++
	default:
		p.breakStreaks(i)
	}
	// A target without an RTT (a new monitor after a reload) is not slow.
	steer = p.noteSlow(i, !u.Replay) || (p.policy == policyFastest && u.RTT > 0)
	if !u.Result.OK && u.State != health.Unknown {
		st.failure = u.Result
		if !u.Replay {
			st.failedAt = st.lastProbe
		}
	}
	return steer
}

// noteSlow updates whether target i is slow from its smoothed RTT: above
// slow_rtt it is, and it stays slow until it is back below 80 % of it, so
// that a target near the threshold does not come and go. It reports
// whether that changed; news as for publish. Called with p.mu held.
func (p *pool) noteSlow(i int, news bool) bool {
	st := &p.states[i]
	if p.slowRTT == 0 || st.slow == (st.rtt > p.slowRTT || st.slow && st.rtt >= p.slowExit()) {
		return false
	}
	st.slow = !st.slow
	t := p.targets[i]
	detail := p.slowDetail(*st)
	if p.muted.Load() { // a newer configuration of the pool exports and logs
		return true
	}
	targetSlow.WithLabelValues(p.name, t.label).Set(gaugeOf(st.slow))
	if news {
		e := events.Event{Type: events.TypeSlowEnded, Target: t.label, Detail: detail}
		if st.slow {
			e.Type = events.TypeSlowStarted
		}
		log.Infof("Pool %s: target %s is %s", p.name, t.label, detail)
		p.emit(e)
	}
	return true
}

// noteSharedRound counts, for policy fastest, an update whose state and
// RTT are a fleet's: only what the probers publish steers, so that every
// replica (prober or not) decides on the same figures. A published RTT has
// been smoothed and held back until it moved (at most every 30 s), so one
// counts for a whole streak of fastest_margin's rounds; a target the fleet
// holds DOWN ends its streaks. Called with p.mu held.
func (p *pool) noteSharedRound(i int, u health.Update, rttBefore time.Duration) {
	switch {
	case u.State == health.Down:
		p.breakStreaks(i)
	case u.RTT > 0 && u.RTT != rttBefore:
		p.states[i].rounds += uint64(p.margin.rounds)
	}
}

// breakStreaks ends target i's streaks as a challenger under policy
// fastest: its round failed. Called with p.mu held.
func (p *pool) breakStreaks(i int) {
	for fam := range p.fastest {
		for _, mem := range p.fastest[fam] {
			mem.streak[i] = 0
		}
	}
}

// slowExit is the smoothed RTT a slow target must get below to stop being
// slow: 80 % of slow_rtt.
func (c *poolConfig) slowExit() time.Duration { return c.slowRTT * 8 / 10 }

// slowDetail says in words whether a target is slow, and why.
func (c *poolConfig) slowDetail(s targetState) string {
	rtt := rttForMessage(s.rtt)
	if s.slow {
		return fmt.Sprintf("slow: smoothed RTT %s is over slow_rtt %s (slow until below %s); answered only when no other UP target of its tier is",
			rtt, c.slowRTT, c.slowExit())
	}
	return fmt.Sprintf("no longer slow: smoothed RTT %s is below %s (80 %% of slow_rtt %s)", rtt, c.slowExit(), c.slowRTT)
}

// countProbe counts a probe round in the metrics. The series of a
// successful round are looked up once (every round would otherwise hash
// the labels) and stay valid while the pool holds them (acquireSeries).
// Called with p.mu held.
func (p *pool) countProbe(r health.Result) {
	if p.probeTime == nil {
		p.probeTime = probeDuration.WithLabelValues(p.name)
	}
	switch {
	case r.OK && p.probeOK == nil:
		p.probeOK = probesTotal.WithLabelValues(p.name, "success")
		fallthrough
	case r.OK:
		p.probeOK.Inc()
	default:
		probesTotal.WithLabelValues(p.name, r.Reason).Inc()
	}
	p.probeTime.Observe(r.Duration.Seconds())
}

// endHold ends target i's failback hold-down for good, for every pool that
// shares its monitor: an operator forced it up. The monitor tells its
// subscribers (this pool included) from a goroutine of its own.
func (p *pool) endHold(i int) {
	if sources := p.sourceList(); !p.stopped && i < len(sources) {
		sources[i].EndHold()
	}
}

// applyOverrides takes the operator overrides in force for each target,
// logs and exports the changes, and republishes. news as for publish.
func (p *pool) applyOverrides(news bool) {
	if p.overrides == nil {
		return
	}
	set := p.overrides.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := false
	for i, t := range p.targets {
		action, reason := set.lookup(p.names, t.label)
		st := &p.states[i]
		if action == st.forced {
			continue
		}
		changed = true
		if old := st.forced; old != overrideNone {
			targetOverride.DeleteLabelValues(p.name, t.label, old.String())
			log.Infof("Pool %s: target %s: override %s lifted", p.name, t.label, old)
			if news {
				p.emit(events.Event{Type: events.TypeOverrideLifted, Target: t.label, Action: old.String()})
			}
		}
		if action != overrideNone {
			targetOverride.WithLabelValues(p.name, t.label, action.String()).Set(1)
			log.Infof("Pool %s: target %s: override %s (%s)", p.name, t.label, action, reason)
			if news {
				p.emit(events.Event{Type: events.TypeOverrideApplied, Target: t.label, Action: action.String(), Reason: reason})
			}
		}
		st.forced = action
		if action == overrideUp && st.recovered {
			p.endHold(i)
		}
	}
	if changed {
		p.publish(news)
	}
}

// exportOverrides sets the pool's override series anew from the overrides
// in force, as applyOverrides did.
func (p *pool) exportOverrides() {
	p.mu.Lock()
	defer p.mu.Unlock()
	targetOverride.DeletePartialMatch(prometheus.Labels{"pool": p.name})
	for i, t := range p.targets {
		if a := p.states[i].forced; a != overrideNone {
			targetOverride.WithLabelValues(p.name, t.label, a.String()).Set(1)
		}
	}
}

// publish rebuilds both families' answers from the current states, and
// arranges to do it again when a failback hold-down ends. news says the
// change happened now (it is not a state handed over by a reload), so an
// all-down it causes is logged and counted. Called with p.mu held (or
// before the pool is shared).
func (p *pool) publish(news bool) {
	now := p.clock.Now()
	var until time.Time
	degraded := p.degradedTTL > 0 && p.degraded(p.states)
	for fam, tiers := range p.tiers {
		if len(tiers) == 0 {
			continue
		}
		a, ends := choose(p.poolConfig, p.states, fam, now, p.memory(fam, 0))
		until = earliest(until, ends)
		a.ttl = p.ttl
		if degraded {
			a.ttl = p.degradedTTL
		}
		p.noteAllDown(fam, a.result != resultHealthy, news)
		if news {
			p.emitAnswerChange(fam, p.answers[fam].Load(), a)
		}
		p.answers[fam].Store(a)
		for reg := range p.regions {
			ra, ends := chooseRegional(p.poolConfig, p.states, fam, reg, now, p.memory(fam, 1+reg))
			until = earliest(until, ends)
			if ra != nil {
				ra.ttl = a.ttl
			}
			p.regional[fam][reg].Store(ra)
		}
	}
	p.emitHolds(now, news)
	p.changeAt.Store(unixNano(until))
	p.republishAt(until)
}

// memory is policy fastest's memory of the answer of family fam for scope
// (0: all clients, 1+r: region r), or nil under other policies.
func (p *pool) memory(fam, scope int) *fastestMemory {
	if p.fastest[fam] == nil {
		return nil
	}
	return p.fastest[fam][scope]
}

// noteAllDown logs and counts a family going all-down. It counts once
// verdicts exist, not for targets that merely start down.
func (p *pool) noteAllDown(fam int, down, news bool) {
	if p.verdicts == 0 {
		return
	}
	if down && !p.failOpen[fam] && news {
		allDownTotal.WithLabelValues(p.name, familyType[fam]).Inc()
		log.Warningf("Pool %s: every %s target is down; all_down %s engages", p.name, familyType[fam], p.allDown)
		p.emit(events.Event{Type: events.TypeAllDownEngaged, Family: familyType[fam], Policy: p.allDown.String()})
	}
	if !down && p.failOpen[fam] && news {
		log.Infof("Pool %s: a %s target is up again; all_down %s no longer applies", p.name, familyType[fam], p.allDown)
		p.emit(events.Event{Type: events.TypeAllDownCleared, Family: familyType[fam], Policy: p.allDown.String()})
	}
	p.failOpen[fam] = down
}

// republishAt arranges a republish at t, when a failback hold-down ends.
// Called with p.mu held.
func (p *pool) republishAt(t time.Time) {
	if t.IsZero() || p.stopped || t.Equal(p.timerAt) {
		return
	}
	if p.stopTimer != nil {
		p.stopTimer()
	}
	p.timerAt = t
	p.stopTimer = p.clock.AfterFunc(t.Sub(p.clock.Now()), func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.timerAt = time.Time{}
		if !p.stopped {
			p.publish(true)
		}
	})
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// adaptiveTTL is the TTL an answer may carry at now under adaptive_ttl:
// the time until the answer could next change, the earliest moment a
// target's state could change (its next probe round plus the confirmations
// still needed, counting a streak under way) or a failback hold-down ends.
// (A crash seen by the connection watch can change it sooner.)
func (p *pool) adaptiveTTL(now time.Time) uint32 {
	next := now.Add(time.Duration(p.adaptiveMax) * time.Second)
	for _, src := range p.sourceList() {
		next = earliest(next, src.EarliestChange())
	}
	if at := p.changeAt.Load(); at != 0 {
		next = earliest(next, time.Unix(0, at))
	}
	return p.clampTTL(next.Sub(now))
}

// clampTTL turns the time until the answer could change into a TTL in
// whole seconds (rounded down, never outliving the change) within the
// adaptive bounds. MIN wins: it is the operator's floor.
func (c *poolConfig) clampTTL(until time.Duration) uint32 {
	ttl := uint32(min(max(until, 0)/time.Second, time.Duration(c.adaptiveMax)))
	return min(max(ttl, c.adaptiveMin), c.adaptiveMax)
}
