package failover

import (
	"slices"
	"time"
)

// fastestMargin says when policy fastest moves its answer to another
// target: when that target's smoothed RTT is lower than the slowest
// answered target's by at least percent of it and by at least min, in each
// of rounds consecutive probe rounds of its own. Two targets within the
// margin of each other never swap places, however their noise falls.
type fastestMargin struct {
	percent int
	min     time.Duration
	rounds  int
}

// defaultMargin: 20 % keeps targets whose smoothed RTTs differ by the
// usual noise of a network path in place; 5 ms keeps near-equal targets in
// one data centre (where 20 % of 1 ms is nothing a user would notice) from
// trading places; 3 rounds is the rise/fall idea applied to speed: one
// slow round of the answered target is not a reason to move.
var defaultMargin = fastestMargin{percent: 20, min: 5 * time.Millisecond, rounds: 3}

// beats reports whether a target with smoothed RTT rtt is faster than one
// with smoothed RTT than by the margin. A target without an RTT (no round
// passed yet) beats nobody, and anybody with an RTT beats it.
func (m fastestMargin) beats(rtt, than time.Duration) bool {
	switch {
	case rtt <= 0:
		return false
	case than <= 0:
		return true
	}
	gain := than - rtt
	return gain >= m.min && gain > 0 && int64(gain)*100 >= int64(than)*int64(m.percent)
}

// fastestMemory is what policy fastest remembers of one answer (a family,
// for all clients or for one region's): the targets it answers, and how
// long each other target has been beating the slowest of them. It is
// guarded by the pool's mutex.
type fastestMemory struct {
	chosen  []int    // answered targets, fastest first
	ordered bool     // chosen was sorted when all of them had an RTT
	streak  []int    // per target: consecutive own rounds it beat the slowest chosen target
	seen    []uint64 // per target: its round count at the last decision
}

func newFastestMemory(targets int) *fastestMemory {
	return &fastestMemory{streak: make([]int, targets), seen: make([]uint64, targets)}
}

// fastest decides policy fastest's answer among cands (targets of one tier
// that may be answered, in configuration order): the answered targets stay
// while they are candidates; a vacancy goes to the fastest other candidate
// at once; and a candidate replaces the slowest answered target only after
// beating it by the margin in c.margin.rounds of its own rounds in a row.
// It returns the targets to answer, fastest first as of the last change of
// who they are: their order alone never changes, so that near-equal
// answered targets do not trade places on every round.
func (c *poolConfig) fastest(mem *fastestMemory, states []targetState, cands []int) []int {
	n := min(max1(c.maxAnswers), len(cands))
	chosen := make([]int, 0, n)
	for _, i := range mem.chosen {
		if len(chosen) < n && slices.Contains(cands, i) {
			chosen = append(chosen, i)
		}
	}
	var others []int
	for _, i := range cands {
		if !slices.Contains(chosen, i) {
			others = append(others, i)
		}
	}
	faster := func(a, b int) int { return compareRTT(states[a].rtt, states[b].rtt) }
	slices.SortStableFunc(others, faster) // ties stay in configuration order
	changed := len(chosen) != len(mem.chosen)
	for len(chosen) < n {
		chosen, others = append(chosen, others[0]), others[1:]
		changed = true
	}
	if len(chosen) > 0 && c.challenge(mem, states, chosen, others) {
		changed = true
	}
	if changed || !mem.ordered {
		slices.SortStableFunc(chosen, faster)
		mem.ordered = !slices.ContainsFunc(chosen, func(i int) bool { return states[i].rtt <= 0 })
	}
	challenging := make([]bool, len(states))
	for _, i := range others {
		challenging[i] = true
	}
	for i := range mem.streak {
		if !challenging[i] {
			mem.streak[i] = 0
		}
		mem.seen[i] = states[i].rounds
	}
	mem.chosen = chosen
	return chosen
}

// challenge counts the streaks of the targets not answered (others,
// fastest first) against the slowest answered one, and puts the fastest
// whose streak is long enough in its place in chosen. It reports whether
// it did.
func (c *poolConfig) challenge(mem *fastestMemory, states []targetState, chosen, others []int) bool {
	at := slowestOf(states, chosen)
	slowest := chosen[at]
	winner := -1
	for _, i := range others {
		switch {
		case !c.margin.beats(states[i].rtt, states[slowest].rtt):
			mem.streak[i] = 0
		default:
			// Rounds since the last decision: one a round, or a fleet's
			// published RTT counting for a whole streak (see noteProbe).
			mem.streak[i] += int(states[i].rounds - mem.seen[i])
		}
		if winner < 0 && mem.streak[i] >= c.margin.rounds {
			winner = i
		}
	}
	if winner < 0 {
		return false
	}
	chosen[at] = winner
	for _, i := range others {
		mem.streak[i] = 0
	}
	return true
}

// slowestOf returns the position in targets of the one with the highest
// smoothed RTT (an unknown one counting as the highest).
func slowestOf(states []targetState, targets []int) int {
	at := 0
	for j, i := range targets {
		if compareRTT(states[i].rtt, states[targets[at]].rtt) >= 0 {
			at = j
		}
	}
	return at
}

// compareRTT orders smoothed RTTs fastest first, an unknown one (0) last.
func compareRTT(a, b time.Duration) int {
	switch {
	case a == b:
		return 0
	case a <= 0:
		return 1
	case b <= 0:
		return -1
	case a < b:
		return -1
	}
	return 1
}

// preferred drops the slow targets of a tier's UP targets, unless every one
// of them is slow: a slow target is answered only when nothing better is.
func preferred(states []targetState, up []int) []int {
	var fast []int
	for _, i := range up {
		if !states[i].slow {
			fast = append(fast, i)
		}
	}
	if len(fast) == 0 {
		return up
	}
	return fast
}
