package failover

import (
	"fmt"
	"slices"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/failover-dns/failover/events"
	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/status"
)

// processStatus shows the pools of every server block of the newest
// configuration to the status listener.
type processStatus struct{}

// Pools implements status.Source.
func (processStatus) Pools(filter string) []status.Pool {
	now := time.Now()
	var out []status.Pool
	name := plugin.Name(filter).Normalize()
	for _, f := range newestHandlers() {
		if filter != "" {
			if entry, ok := f.names[name]; ok {
				out = append(out, entry.pool.status(f.block, now))
			}
			continue
		}
		for _, p := range f.pools {
			out = append(out, p.status(f.block, now))
		}
	}
	return out
}

// Events implements status.Source.
func (processStatus) Events() *events.Log { return eventLog }

// status is the pool as the status listener shows it at now.
func (p *pool) status(block string, now time.Time) status.Pool {
	out := status.Pool{
		Name:        p.name,
		Names:       p.names,
		Zone:        p.zones[0],
		ServerBlock: block,
		Policy:      p.policy.String(),
		AllDown:     p.allDown.String(),
		Mode:        "healthy",
		Answers:     map[string][]string{},
	}
	for fam := range families {
		a := p.answers[fam].Load()
		if a == nil {
			continue
		}
		ips := make([]string, 0, len(a.ips))
		for _, ip := range a.ips {
			ips = append(ips, ip.String())
		}
		out.Answers[familyType[fam]] = ips
		out.TTL = max(out.TTL, a.ttl)
		if a.result != resultHealthy {
			out.Mode = "all_down"
		}
	}
	if p.adaptiveMax > 0 {
		out.TTL = min(out.TTL, p.adaptiveTTL(now))
	}
	// Before p.mu: the fleet calls pools with its own lock held.
	fleets := make([]*status.Fleet, len(p.targets))
	for i := range p.targets {
		fleets[i] = fleetStatus(p.fleetView(i))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if out.Mode == "healthy" && p.degraded(p.states) {
		out.Mode = "degraded"
	}
	for i := range p.targets {
		t := p.targetStatus(i, now)
		t.Fleet = fleets[i]
		out.Targets = append(out.Targets, t)
	}
	return out
}

// fleetStatus is a fleet's view of a target as the status listener shows
// it; nil without a fleet.
func fleetStatus(v *fleet.View) *status.Fleet {
	if v == nil {
		return nil
	}
	out := &status.Fleet{Member: v.Member, Mode: v.Mode, Alone: v.Alone, ProbedHere: v.ProbedHere, Quorum: v.Quorum,
		Probers: []status.Prober{}}
	for _, p := range v.Probers {
		pr := status.Prober{Member: p.Member, State: "none"}
		if p.HasVerdict {
			pr.State, pr.Since, pr.Reason, pr.Detail, pr.RTT = p.State.String(), p.Since, p.Reason, p.Detail, p.RTT.Seconds()
		}
		out.Probers = append(out.Probers, pr)
	}
	return out
}

// targetStatus is target i as the status listener shows it. Called with p.mu held.
func (p *pool) targetStatus(i int, now time.Time) status.Target {
	t, s := p.targets[i], p.states[i]
	out := status.Target{
		Address:           t.label,
		Probe:             t.probeAddr.String(),
		ProbePort:         t.probePort,
		Priority:          t.priority,
		Weight:            t.weight,
		Region:            t.regionName,
		State:             s.health.String(),
		Since:             s.since,
		LastProbe:         s.lastProbe,
		LastProbeDuration: s.lastDuration.Seconds(),
		RTT:               s.rtt.Seconds(),
		Slow:              s.slow,
		Steering:          p.steering(i),
		Transitions:       s.transitions,
		Uptime:            status.Uptimes{Hour: s.history.uptime(now, time.Hour), Day: s.history.uptime(now, 24*time.Hour)},
	}
	if s.forced != overrideNone {
		out.Override = s.forced.String()
	}
	if onHold, until := p.held(s, now); onHold {
		out.HoldUntil, out.Held = until, until.IsZero()
	}
	if f := s.failure; f.Reason != "" {
		out.LastFailure = &status.Failure{Time: s.failedAt, Check: f.Check, Reason: f.Reason, Detail: f.Detail}
	}
	return out
}

// steering says how target i's speed steers the answers, for the status
// view: why it is slow, or where it stands under policy fastest. Called
// with p.mu held.
func (p *pool) steering(i int) string {
	s := p.states[i]
	if s.slow {
		return p.slowDetail(s)
	}
	mem := p.memory(p.targets[i].family(), 0)
	if held, _ := p.held(s, p.clock.Now()); mem == nil || !p.up(s) || held {
		return ""
	}
	if slices.Contains(mem.chosen, i) {
		return "fastest: answered"
	}
	if len(mem.chosen) == 0 || !slices.Contains(p.tierOf(mem.chosen[0]), i) {
		return "fastest: not in the answered tier"
	}
	slowest := mem.chosen[slowestOf(p.states, mem.chosen)]
	m, than := p.margin, p.states[slowest].rtt
	return fmt.Sprintf("fastest: not answered; it takes over from %s (smoothed RTT %s) when its own (%s) is at least %d %% and %s lower for %d rounds in a row (%d so far)",
		p.targets[slowest].label, rttForMessage(than), rttForMessage(s.rtt), m.percent, m.min, m.rounds, mem.streak[i])
}

// rttForMessage rounds a smoothed RTT for a message (not health.roundRTT,
// a round's sample).
func rttForMessage(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }

// tierOf returns the priority tier target i belongs to.
func (c *poolConfig) tierOf(i int) []int {
	for _, tier := range c.tiers[c.targets[i].family()] {
		if slices.Contains(tier, i) {
			return tier
		}
	}
	return nil
}

// String names the policy as the Corefile does.
func (pol policy) String() string {
	for name, v := range policyNames {
		if v == pol {
			return name
		}
	}
	return "priority"
}
