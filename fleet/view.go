package fleet

import (
	"time"

	"github.com/failover-dns/failover/health"
)

// View is what the status page shows of a target in a fleet.
type View struct {
	Member string // this replica
	Mode   string // joining, fleet or local
	// Alone: this member decides the target by itself (local mode, or too
	// few of its probers have a verdict: see Fleet.orphans).
	Alone      bool
	ProbedHere bool
	Leads      bool // this member notifies the target's events
	Quorum     int  // verdicts that decide, among the current probers
	Probers    []ProberView
}

// ProberView is one current prober of a target and its verdict.
type ProberView struct {
	Member string
	// HasVerdict false: it abstains (just assigned, or gone; a verdict
	// that does not count, written under another lease, is none).
	HasVerdict bool
	State      health.State
	Since      time.Time
	Reason     string
	Detail     string
	RTT        time.Duration
}

// View returns the fleet's view of the target now.
func (t *Target) View() View {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	v := View{Member: f.cfg.Member, Mode: f.mode.String(), Alone: t.alone(), ProbedHere: t.probing,
		Leads: t.Leads(), Quorum: f.cfg.quorumOf(len(t.probers))}
	for _, m := range t.probers {
		p := ProberView{Member: m}
		if verdict, ok := f.counted(t.id, m); ok {
			p.HasVerdict, p.State, p.Since, p.Reason, p.Detail, p.RTT = true, verdict.State, verdict.Since, verdict.Reason, verdict.Detail, verdict.RTT
		}
		v.Probers = append(v.Probers, p)
	}
	return v
}
