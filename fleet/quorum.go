package fleet

import (
	"time"

	"github.com/failover-dns/failover/health"
)

// decision is the fleet's state of a target and what it rests on.
type decision struct {
	state health.State
	// since: the latest Since among the verdicts that made the quorum,
	// the same on every replica.
	since time.Time
	// failure: the first-ranked DOWN verdict, when the state is DOWN.
	failure Verdict
	// stale: the quorum needed verdicts read when this member joined (not
	// published since): they may give a first state, never change one.
	stale bool
}

// decide applies the quorum rule to a target's current probers (ranked)
// and the verdicts the fleet holds: DOWN when at least quorum of the
// probers with a verdict say DOWN, UP when at least quorum say UP. A
// prober without a verdict abstains. With no quorum either way, or a
// quorum both ways (a quorum of 1 and probers that disagree), the last
// state holds: a dying or disagreeing prober never flips a target.
func decide(probers []string, verdicts map[string]Verdict, quorum int, last decision) decision {
	var up, down decision
	ups, downs := 0, 0
	freshUps, freshDowns := 0, 0
	up.state, down.state = health.Up, health.Down
	for _, m := range probers {
		v, ok := verdicts[m]
		if !ok {
			continue
		}
		switch v.State {
		case health.Up:
			ups++
			up.since = later(up.since, v.Since)
			if !v.stale {
				freshUps++
			}
		case health.Down:
			if downs == 0 {
				down.failure = v
			}
			downs++
			down.since = later(down.since, v.Since)
			if !v.stale {
				freshDowns++
			}
		}
	}
	up.stale, down.stale = freshUps < quorum, freshDowns < quorum
	switch {
	case downs >= quorum && ups >= quorum:
		return last
	case downs >= quorum:
		if last.state == health.Down {
			return last
		}
		return down
	case ups >= quorum:
		if last.state == health.Up {
			return last
		}
		return up
	}
	return last
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
