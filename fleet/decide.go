package fleet

import (
	"slices"
	"time"

	"github.com/failover-dns/failover/health"
)

// RTTPublishEvery bounds how often a prober publishes a target's RTT
// without a change of state, and rttMoved says which changes are worth it:
// the steady state then costs etcd nothing but the lease's keep-alives.
const RTTPublishEvery = 30 * time.Second

// rttMoved reports whether a smoothed RTT moved far enough from the one
// published to publish it again: by 20 % and by 5 ms at least (policy
// fastest's default margin), so that the jitter of a steady target, and a
// loaded prober's own scheduling delays, stay out of etcd.
func rttMoved(published, now time.Duration) bool {
	d := now - published
	if d < 0 {
		d = -d
	}
	return d >= 5*time.Millisecond && d*5 >= published
}

// noteOwn records this member's verdict on t from a probe round and queues
// it for etcd when it is news: a new state (or a new Since: the state was
// left and entered again between two rounds of ours), or, when a pool
// steers by it, an RTT that moved, at most every RTTPublishEvery. Only t's probers publish. Called
// with f.mu held.
func (f *Fleet) noteOwn(t *Target, u health.Update, now time.Time) {
	me := f.cfg.Member
	if !slices.Contains(t.probers, me) {
		return
	}
	v := Verdict{State: u.State, Since: u.Since, RTT: u.RTT}
	if u.State == health.Down {
		if !u.Result.OK {
			v.Reason, v.Check, v.Detail = u.Result.Reason, u.Result.Check, u.Result.Detail
		} else if t.own != nil {
			v.Reason, v.Check, v.Detail = t.own.Reason, t.own.Check, t.own.Detail
		}
	}
	switch {
	case t.own == nil || t.own.State != v.State || !t.own.Since.Equal(v.Since):
	case t.steersByRTT && now.Sub(t.ownRTTAt) >= RTTPublishEvery && rttMoved(t.own.RTT, v.RTT):
		v.Reason, v.Check, v.Detail = t.own.Reason, t.own.Check, t.own.Detail
	default:
		return
	}
	t.own, t.ownRTTAt = &v, now
	f.setVerdict(t.id, me, v)
	f.markDirty(t.id)
}

// setVerdict records a member's verdict in the view. Called with f.mu held.
func (f *Fleet) setVerdict(target, member string, v Verdict) {
	vs := f.verdicts[target]
	if vs == nil {
		vs = map[string]Verdict{}
		f.verdicts[target] = vs
	}
	if _, found := vs[member]; !found {
		f.held++
	}
	vs[member] = v
}

// dropVerdict removes a member's verdict from the view. Called with f.mu held.
func (f *Fleet) dropVerdict(target, member string) {
	if vs := f.verdicts[target]; vs != nil {
		if _, found := vs[member]; found {
			f.held--
		}
		delete(vs, member)
		if len(vs) == 0 {
			delete(f.verdicts, target)
		}
	}
}

// counted returns member's verdict on target if it counts: this member's
// own, or a live member's written under that member's lease (a key
// written by anyone else, or left from an earlier lease, does not).
// Called with f.mu held.
func (f *Fleet) counted(target, member string) (Verdict, bool) {
	v, ok := f.verdicts[target][member]
	if !ok || member == f.cfg.Member {
		return v, ok
	}
	lease, live := f.memberLease[member]
	return v, live && v.lease == lease
}

// countedVerdicts are the verdicts of t's probers that count. Called with
// f.mu held.
func (f *Fleet) countedVerdicts(t *Target) map[string]Verdict {
	out := make(map[string]Verdict, len(t.probers))
	for _, m := range t.probers {
		if v, ok := f.counted(t.id, m); ok {
			out[m] = v
		}
	}
	return out
}

// decide sets t's state from the quorum of its probers' verdicts, or from
// this member's own probing while it decides alone, and t's RTT. It reports
// whether the state changed and whether the RTT did. Called with f.mu held.
func (f *Fleet) decide(t *Target, now time.Time) (changed, rttChanged bool) {
	last := t.dec
	switch {
	case t.alone():
		if t.hasLocal {
			t.dec = decision{state: t.local.State, since: t.local.Since, failure: localFailure(t)}
		}
	case f.mode == Joined:
		t.dec = decide(t.probers, f.countedVerdicts(t), f.cfg.quorumOf(len(t.probers)), last)
		if t.dec.state != last.state && last.state != health.Unknown && t.dec.stale {
			t.dec = last // verdicts read when this member joined only hold a known state
		}
	}
	if t.dec.state != last.state {
		changed = true
		t.recovered = last.state == health.Down && t.dec.state == health.Up
		t.passed = t.passed || t.dec.state == health.Up
	}
	f.setNotifier(t)
	rtt := f.fleetRTT(t)
	if rtt != t.RTT() {
		t.rtt.Store(int64(rtt))
		rttChanged = true
	}
	return changed, rttChanged
}

// localFailure is this member's last failure on t as a verdict's. Called
// with f.mu held.
func localFailure(t *Target) Verdict {
	r := t.local.Result
	if t.local.State != health.Down || r.OK {
		if t.dec.state == health.Down {
			return t.dec.failure
		}
		return Verdict{}
	}
	return Verdict{State: health.Down, Reason: r.Reason, Check: r.Check, Detail: r.Detail}
}

// fleetRTT is the RTT t steers by: the best-ranked prober's published one,
// or this member's own while it decides alone. Called with f.mu held.
func (f *Fleet) fleetRTT(t *Target) time.Duration {
	if t.alone() {
		if t.hasLocal {
			return t.local.RTT
		}
		return t.RTT()
	}
	for _, m := range t.probers {
		if v, ok := f.counted(t.id, m); ok && v.RTT > 0 {
			return v.RTT
		}
	}
	return t.RTT()
}

// redecide decides t again and tells its subscribers what changed.
// Called with f.mu held.
func (f *Fleet) redecide(t *Target, now time.Time) {
	if changed, rttChanged := f.decide(t, now); changed || rttChanged {
		t.deliver(t.update(t.result(), changed, true))
	}
}

// setNotifier records who notifies t's events: nobody else while this
// member decides alone; else the best-ranked prober that has a verdict
// (one that lacks the target, is new or is dying would stay silent), or
// the best-ranked one while none has. Called with f.mu held.
func (f *Fleet) setNotifier(t *Target) {
	if f.mode != Joined || t.orphan || len(t.probers) == 0 {
		t.notifier.Store(nil)
		return
	}
	who := t.probers[0]
	for _, m := range t.probers {
		if _, ok := f.counted(t.id, m); ok {
			who = m
			break
		}
	}
	if who == f.cfg.Member {
		t.notifier.Store(nil)
		return
	}
	t.notifier.Store(&who)
}
