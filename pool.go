package failover

import (
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failover-dns/failover/health"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Address families, as indexes into per-family arrays.
const (
	v4 = iota
	v6
	families
)

var familyType = [families]string{v4: "A", v6: "AAAA"}

// target is one address a pool can answer with.
type target struct {
	addr       netip.Addr
	ip         net.IP // addr in the form dns.A / dns.AAAA want
	label      string // addr as a metric label and in logs
	priority   int    // lower is preferred
	weight     int    // kept for weighted policies
	probeAddr  netip.Addr
	probePort  uint16 // 0: each check's own port
	region     int    // index into the pool's regions; -1: none
	regionName string
}

func (t target) family() int {
	if t.addr.Is4() {
		return v4
	}
	return v6
}

// answerCounters caches a pool's answers_total series for one server, so
// that counting an answer costs no label lookup. A handler normally serves
// one server address; another one just replaces the cache.
type answerCounters struct {
	server string
	total  [families][len(answerResults)]prometheus.Counter
}

func (p *pool) countAnswer(server string, qtype uint16, result int) {
	c := p.counters.Load()
	if c == nil || c.server != server {
		c = &answerCounters{server: server}
		for fam := range families {
			for i, result := range answerResults {
				c.total[fam][i] = answersTotal.WithLabelValues(server, p.name, familyType[fam], result)
			}
		}
		p.counters.Store(c)
	}
	fam := v4
	if qtype == dns.TypeAAAA {
		fam = v6
	}
	c.total[fam][result].Inc()
}

// pool is a set of names answered from a set of health-checked targets.
type pool struct {
	name     string   // the first name: the pool's metric label and log name
	names    []string // every name the pool answers for, lower case, fully qualified
	targets  []target
	byFamily [families][]int // target indexes of each family, best priority first, then config order
	checks   []*health.Check
	require  int // checks that must pass; 0: all
	interval time.Duration
	fast     time.Duration
	timeout  time.Duration
	rise     int
	fall     int
	watch    bool
	ttl      uint32

	policy      policy
	maxAnswers  int // 0: no cap
	minHealthy  int // UP targets a tier needs, or
	minPercent  int // percent of its targets that must be UP (0: use minHealthy)
	allDown     allDownPolicy
	fallback    [families][]net.IP // all_down fallback addresses
	startDown   bool               // targets count as down until their first verdict
	degradedTTL uint32             // TTL while any target is down; 0: ttl
	adaptiveMin uint32             // adaptive TTL bounds; adaptiveMax 0: off
	adaptiveMax uint32
	failback    time.Duration // a better tier must have been UP this long to win back
	manual      bool          // never fail back on its own: only targets forced up win back
	overrides   *atomic.Pointer[overrideSet]
	regions     []*region
	geoRegions  bool // some region matches geoip metadata

	monitors []*health.Monitor // while started
	unsubs   []func()

	answers  [families]atomic.Pointer[answer]
	regional [families][]atomic.Pointer[answer] // per region; nil: use answers
	ready    atomic.Bool                        // every target has a first verdict
	counters atomic.Pointer[answerCounters]

	mu        sync.Mutex // guards the fields below; held by probe goroutines only
	states    []health.State
	since     []time.Time // when each target entered its state
	recovered []bool      // UP after having been DOWN: subject to the failback hold-down
	forced    []overrideAction
	replaying bool // states handed over from running monitors: not news
	verdicts  int
	failOpen  [families]bool
	holdTimer *time.Timer // republishes when a hold-down ends
	holdAt    time.Time   // when holdTimer fires
	stopped   bool
}

// init prepares derived fields once the pool's configuration is complete.
func (p *pool) init() {
	p.name = p.names[0]
	for i, t := range p.targets {
		p.byFamily[t.family()] = append(p.byFamily[t.family()], i)
	}
	for fam := range p.byFamily {
		sort.SliceStable(p.byFamily[fam], func(a, b int) bool {
			return p.targets[p.byFamily[fam][a]].priority < p.targets[p.byFamily[fam][b]].priority
		})
	}
	p.states = make([]health.State, len(p.targets))
	p.since = make([]time.Time, len(p.targets))
	p.recovered = make([]bool, len(p.targets))
	p.forced = make([]overrideAction, len(p.targets))
	for fam := range p.regional {
		p.regional[fam] = make([]atomic.Pointer[answer], len(p.regions))
	}
	p.publish()
}

// start subscribes to one monitor per target, sharing monitors with every
// other pool (and the previous configuration) that probes the same way.
func (p *pool) start() {
	acquireSeries(p)
	targetOverride.DeletePartialMatch(prometheus.Labels{"pool": p.name}) // the new configuration says anew
	p.mu.Lock()
	p.applyOverrides()
	p.replaying = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.replaying = false
		p.mu.Unlock()
	}()
	for i, t := range p.targets {
		m := health.Acquire(health.Spec{
			Addr:         t.probeAddr,
			Port:         t.probePort,
			Checks:       p.checks,
			Require:      p.require,
			Interval:     p.interval,
			FastInterval: p.fast,
			Timeout:      p.timeout,
			Rise:         p.rise,
			Fall:         p.fall,
			Watch:        p.watch,
		})
		p.monitors = append(p.monitors, m)
		p.unsubs = append(p.unsubs, m.Subscribe(func(u health.Update) { p.observe(i, u) }))
	}
}

// stop unsubscribes and releases what start acquired; monitors nobody
// else uses stop, and Release waits for their goroutines.
func (p *pool) stop() {
	p.mu.Lock()
	p.stopped = true
	if p.holdTimer != nil {
		p.holdTimer.Stop()
	}
	p.mu.Unlock()
	for i, m := range p.monitors {
		p.unsubs[i]()
		m.Release()
	}
	p.unsubs = nil // monitors stays: queries may still read it for the adaptive TTL
	releaseSeries(p)
}

func (p *pool) observe(i int, u health.Update) {
	r, s := u.Result, u.State
	if !u.Replay {
		result := "success"
		if !r.OK {
			result = r.Reason
		}
		probesTotal.WithLabelValues(p.name, result).Inc()
		probeDuration.WithLabelValues(p.name).Observe(r.Duration.Seconds())
	}
	if !u.Changed {
		return
	}

	t := p.targets[i]
	up := 0.0
	if s == health.Up {
		up = 1
	}
	targetUp.WithLabelValues(p.name, t.label).Set(up)

	p.mu.Lock()
	defer p.mu.Unlock()
	// Count and log every change, but not a state handed over from a running
	// monitor by a reload, and not a first verdict of UP: at start-up that
	// is the normal case for every target and would only be noise.
	if !u.Replay {
		transitionsTotal.WithLabelValues(p.name, t.label, s.String()).Inc()
		switch {
		case !r.OK:
			log.Infof("Pool %s: target %s is %s (last probe: %s)", p.name, t.label, s, r.Reason)
		case p.states[i] != health.Unknown:
			log.Infof("Pool %s: target %s is %s", p.name, t.label, s)
		}
	}
	if p.states[i] == health.Unknown {
		p.verdicts++
		if p.verdicts == len(p.targets) {
			p.ready.Store(true)
		}
	}
	p.states[i] = s
	p.since[i] = u.Since
	p.recovered[i] = u.Recovered
	p.publish()
}

// applyOverrides takes the operator overrides in force for each target,
// logs and exports the changes, and republishes. Called with p.mu held.
func (p *pool) applyOverrides() {
	if p.overrides == nil {
		return
	}
	set := p.overrides.Load()
	changed := false
	for i, t := range p.targets {
		action, reason := set.lookup(p, t.label)
		if action == p.forced[i] {
			continue
		}
		changed = true
		if old := p.forced[i]; old != overrideNone {
			targetOverride.DeleteLabelValues(p.name, t.label, old.String())
			log.Infof("Pool %s: target %s: override %s lifted", p.name, t.label, old)
		}
		if action != overrideNone {
			targetOverride.WithLabelValues(p.name, t.label, action.String()).Set(1)
			log.Infof("Pool %s: target %s: override %s (%s)", p.name, t.label, action, reason)
		}
		p.forced[i] = action
	}
	if changed {
		p.publish()
	}
}

// adaptiveTTL is the time until the answer could next change, in seconds,
// clamped to the adaptive bounds: the earliest next scheduled probe of the
// pool's targets plus the fast re-probes that confirm a change. (A crash
// seen by the connection watch can change it sooner.)
func (p *pool) adaptiveTTL(now time.Time) uint32 {
	until := time.Duration(p.adaptiveMax) * time.Second
	for _, m := range p.monitors {
		until = min(until, m.NextProbe().Sub(now))
	}
	until += time.Duration(p.fall-1) * p.fast
	ttl := uint32(max(until, 0) / time.Second)
	return min(max(ttl, p.adaptiveMin), p.adaptiveMax)
}

// degraded reports whether any target is DOWN (or counts as down).
func (p *pool) degraded() bool {
	for i := range p.targets {
		if p.forced[i] != overrideDrain && !p.up(i) {
			return true
		}
	}
	return false
}

// up reports whether target i counts as up: forced up by an operator, or
// UP (or without a verdict yet, unless the pool starts its targets down) and
// neither forced down nor drained.
func (p *pool) up(i int) bool {
	switch p.forced[i] {
	case overrideUp:
		return true
	case overrideDown, overrideDrain:
		return false
	}
	switch p.states[i] {
	case health.Up:
		return true
	case health.Unknown:
		return !p.startDown
	}
	return false
}

// publish rebuilds both families' answers from the current states. Called
// with p.mu held (or before the pool is shared).
func (p *pool) publish() {
	for fam, idx := range p.byFamily {
		if len(idx) == 0 {
			continue
		}
		a := p.choose(fam, idx)
		a.ttl = p.ttl
		if p.degradedTTL > 0 && p.degraded() {
			a.ttl = p.degradedTTL
		}
		// All-down counts once verdicts exist (not for targets that merely
		// start down) and not again for a state a reload handed over.
		if down := a.result != resultHealthy; p.verdicts > 0 {
			if down && !p.failOpen[fam] && !p.replaying {
				allDownTotal.WithLabelValues(p.name, familyType[fam]).Inc()
				log.Warningf("Pool %s: every %s target is down; all_down %s engages", p.name, familyType[fam], p.allDown)
			}
			p.failOpen[fam] = down
		}
		p.answers[fam].Store(a)
		for reg := range p.regions {
			ra := p.chooseRegional(reg, idx)
			if ra != nil {
				ra.ttl = a.ttl
			}
			p.regional[fam][reg].Store(ra)
		}
	}
}
