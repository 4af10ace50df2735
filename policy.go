package failover

import (
	"slices"
	"time"

	"github.com/failover-dns/failover/health"
)

// policy picks the answer's targets from the chosen tier.
type policy uint8

const (
	policyPriority   policy = iota // every UP target of the tier
	policyFirst                    // the first UP target in configuration order
	policyWeighted                 // weighted random
	policyRoundRobin               // every UP target, rotated per query
	policyRandom                   // every UP target, shuffled per query
	policyHash                     // rendezvous hash of the client's subnet
	policyFastest                  // the lowest smoothed RTTs, with hysteresis (fastest.go)
)

var policyNames = map[string]policy{
	"priority": policyPriority, "first": policyFirst, "weighted": policyWeighted,
	"round_robin": policyRoundRobin, "random": policyRandom, "hash": policyHash, "fastest": policyFastest,
}

// allDownPolicy says what a family answers when none of its targets is up.
type allDownPolicy uint8

const (
	allDownBestTier allDownPolicy = iota
	allDownAll
	allDownServfail
	allDownNodata
	allDownFallback
)

var allDownNames = []string{"best_tier", "all", "servfail", "nodata", "fallback"}

func (a allDownPolicy) String() string { return allDownNames[a] }

// targetState is what a pool knows of one target when it chooses answers.
type targetState struct {
	health    health.State
	since     time.Time // when the target entered its health state
	recovered bool      // UP after having been DOWN: subject to the failback hold-down
	passed    bool      // passed a probe round at some point
	forced    overrideAction
	failure   health.Result // the last failed probe round: which check, where, why (bounded)

	// For the status view:
	failedAt     time.Time     // when failure happened
	lastProbe    time.Time     // when the last probe round ended
	lastDuration time.Duration // how long it took
	transitions  int           // state changes seen by this configuration
	history      history       // state changes over the last day, for uptime
	onHold       bool          // on a failback hold-down at the last publish
	rtt          time.Duration // smoothed round-trip time (health.Monitor.RTT); 0 until a round passed
	rounds       uint64        // passed rounds seen (RTT samples), for policy fastest's streaks
	slow         bool          // smoothed RTT above slow_rtt, and not yet back below 80 % of it
}

// up reports whether a target counts as up: forced up by an operator, or
// UP (or without a verdict yet, unless the pool starts its targets down)
// and neither forced down nor drained.
func (c *poolConfig) up(s targetState) bool {
	switch s.forced {
	case overrideUp:
		return true
	case overrideDown, overrideDrain:
		return false
	}
	switch s.health {
	case health.Up:
		return true
	case health.Unknown:
		return !c.startDown
	}
	return false
}

// held reports whether a target that counts as up waits out its failback
// hold-down, and when that ends (zero for a manual hold, which only an
// operator ends).
func (c *poolConfig) held(s targetState, now time.Time) (bool, time.Time) {
	if !s.recovered || s.forced == overrideUp || (!c.manual && c.failback == 0) {
		return false, time.Time{}
	}
	if c.manual {
		return true, time.Time{}
	}
	ready := s.since.Add(c.failback)
	if !ready.After(now) {
		return false, time.Time{}
	}
	return true, ready
}

// degraded reports whether any target is DOWN (or counts as down).
func (c *poolConfig) degraded(states []targetState) bool {
	for _, s := range states {
		if s.forced != overrideDrain && !c.up(s) {
			return true
		}
	}
	return false
}

// choose decides a family's answer from the targets' states at time now,
// and says until when that decision holds on its own (zero: until a state
// changes). The answer is the UP targets of the best priority tier that
// has enough of them (min_healthy, at least one); failing that, the best
// tier with any UP target; failing that, the all_down policy. Drained
// targets take no part. A target that recovered takes part only once its
// failback hold-down is over (or, with manual failback, once an operator
// forced it up); targets on hold are used when nothing else is up.
//
// Within the tier, slow targets are left out unless all are slow, and
// under policy fastest mem (nil otherwise) picks the fastest.
func choose(c *poolConfig, states []targetState, fam int, now time.Time, mem *fastestMemory) (*answer, time.Time) {
	var fallbackTier, heldBack []int
	var until time.Time
	for _, tier := range c.tiers[fam] {
		sc := c.scan(states, tier, now, nil)
		until = earliest(until, sc.until)
		if len(sc.up) > 0 && len(sc.up) >= c.needed(sc.size) {
			return c.answerFrom(states, sc.up, mem), until
		}
		if len(sc.up) > 0 && fallbackTier == nil {
			fallbackTier = sc.up
		}
		if heldBack == nil {
			heldBack = sc.held
		}
	}
	if fallbackTier == nil {
		fallbackTier = heldBack // a held-back tier beats having nothing
	}
	if fallbackTier != nil {
		return c.answerFrom(states, fallbackTier, mem), until
	}
	return c.allDownAnswer(states, fam), until
}

// tierScan is one tier's targets as choose sees them.
type tierScan struct {
	up    []int     // counting as up and not on hold
	held  []int     // counting as up, but on a failback hold-down
	size  int       // not drained
	until time.Time // the earliest end of a hold-down in the tier
}

// scan sorts the targets of a tier that in accepts (nil: all of them).
func (c *poolConfig) scan(states []targetState, tier []int, now time.Time, in func(i int) bool) tierScan {
	var sc tierScan
	for _, i := range tier {
		s := states[i]
		if s.forced == overrideDrain || (in != nil && !in(i)) {
			continue
		}
		sc.size++
		if !c.up(s) {
			continue
		}
		if onHold, ends := c.held(s, now); onHold {
			sc.held = append(sc.held, i)
			sc.until = earliest(sc.until, ends)
			continue
		}
		sc.up = append(sc.up, i)
	}
	return sc
}

// allDownAnswer is a family's answer when none of its targets counts as up.
func (c *poolConfig) allDownAnswer(states []targetState, fam int) *answer {
	var live [][]int // the tiers without their drained targets
	passed := false
	for _, tier := range c.tiers[fam] {
		var in []int
		for _, i := range tier {
			if states[i].forced != overrideDrain {
				in = append(in, i)
				passed = passed || states[i].passed
			}
		}
		if len(in) > 0 {
			live = append(live, in)
		}
	}
	switch {
	case c.allDown == allDownServfail:
		return &answer{result: resultServfail}
	case c.allDown == allDownNodata:
		return &answer{result: resultNodata}
	case c.allDown == allDownFallback:
		// Also when every target is drained: no target is up then either.
		if len(c.fallback[fam]) == 0 {
			return &answer{result: resultNodata}
		}
		a := &answer{ips: c.fallback[fam], result: resultFailOpen}
		for range a.ips {
			a.weights = append(a.weights, 1)
		}
		return a
	case len(live) == 0:
		// Every target drained: best_tier and all may answer only targets
		// that are not drained, so they have nothing to answer.
		return &answer{result: resultNodata}
	case c.startDown && !passed:
		// Nothing is answered from a target before it passed a probe:
		// resolvers try another server during these first moments.
		return &answer{result: resultServfail}
	case c.allDown == allDownAll:
		all := slices.Concat(live...)
		slices.Sort(all) // configuration order
		return c.answerOf(all, resultFailOpen)
	}
	return c.answerOf(live[0], resultFailOpen)
}

// chooseRegional decides the answer for clients of region reg: the UP
// targets of that region's best tier with enough of them, or nil when the
// region has none, so that its clients get the pool's global answer.
// Failback hold-downs, slow targets and mem apply as in choose; until says
// when a hold-down ends.
func chooseRegional(c *poolConfig, states []targetState, fam, reg int, now time.Time, mem *fastestMemory) (*answer, time.Time) {
	var until time.Time
	inRegion := func(i int) bool { return c.targets[i].region == reg }
	for _, tier := range c.tiers[fam] {
		sc := c.scan(states, tier, now, inRegion)
		until = earliest(until, sc.until)
		if len(sc.up) > 0 && len(sc.up) >= c.needed(sc.size) {
			return c.answerFrom(states, sc.up, mem), until
		}
	}
	return nil, until
}

// earliest returns the earlier of two times, a zero time meaning "never".
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// needed is how many UP targets a tier of size n needs to be chosen: the
// min_healthy count (at most the tier's size, so a small backup tier can
// qualify) or percentage, and at least one.
func (c *poolConfig) needed(n int) int {
	if c.minPercent > 0 {
		return max(1, (n*c.minPercent+99)/100)
	}
	return max(1, min(c.minHealthy, n))
}

// answerFrom makes the answer of a tier's UP targets (all counted for
// min_healthy): the slow ones only if all are slow, and under policy
// fastest (mem not nil) only the fastest, fastest first.
func (c *poolConfig) answerFrom(states []targetState, up []int, mem *fastestMemory) *answer {
	up = preferred(states, up)
	if mem != nil {
		up = c.fastest(mem, states, up)
	}
	return c.answerOf(up, resultHealthy)
}

// answerOf makes an answer of targets, in the order given (configuration
// order, or fastest first).
func (c *poolConfig) answerOf(targets []int, result int) *answer {
	a := &answer{result: result}
	for _, i := range targets {
		a.ips = append(a.ips, c.targets[i].ip)
		a.weights = append(a.weights, c.targets[i].weight)
	}
	return a
}
