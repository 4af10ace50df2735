package fleet

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/failover-dns/failover/health"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// What the fleet takes from etcd is checked here: members count only with
// a live lease, verdicts only under their member's lease, within bounds,
// and the memory the view takes is bounded whatever is written.

// maxSpareVerdicts bounds the verdicts held beyond those that count for a
// watched target: of targets not watched here (a peer with another
// Corefile, or this one's next reload, watches them), and of members
// whose key is not (yet) seen.
const maxSpareVerdicts = 4096

// rejectEvery is how often at most a rejected key is logged.
const rejectEvery = 10 * time.Second

// putMember takes a member key: a live member when under a lease; one
// without is no member's (a member's key always has its lease), and is
// ignored. Called with f.mu held.
func (f *Fleet) putMember(member string, kv *mvccpb.KeyValue) {
	if kv.Lease == 0 {
		f.rejects.warn(time.Now(), kv.Key, "a member key without a lease: not a live member")
		f.dropMember(member)
		return
	}
	if mark, ok := decodeMemberMark(kv.Value); !ok || mark != f.cfg.secretMark() {
		f.keyedApart(member, mark, ok)
		f.dropMember(member)
		return
	}
	delete(f.apart, member)
	if i, found := slices.BinarySearch(f.members, member); !found {
		f.members = slices.Insert(f.members, i, member)
	}
	f.memberLease[member] = clientv3.LeaseID(kv.Lease)
}

// keyedApart notes a live member that names targets under another secret
// (or none, or its value is unreadable): it is left out of this member's
// fleet, since it never publishes under the names this one reads, and the
// replicas that share a secret form a fleet of their own (as during the
// rollout that adds one). Logged once per member and mark. Called with
// f.mu held.
func (f *Fleet) keyedApart(member, mark string, readable bool) {
	if seen, found := f.apart[member]; found && seen == mark {
		return
	}
	if len(f.apart) >= maxApartMembers {
		return // a flood of such keys is not remembered, nor logged, one by one
	}
	f.apart[member] = mark
	if !readable {
		log.Warningf("Fleet: member %q has a member key this version does not read: left out of this member's fleet", member)
		return
	}
	log.Warningf("Fleet: member %q names targets under another fleet secret than this member (or one of the two has none): left out of this member's fleet, the two probe and decide apart; give every replica the same 'secret'", member)
}

// maxApartMembers bounds the members remembered as keyed apart.
const maxApartMembers = 1024

// maxMemberValue caps a member key's value before it is decoded.
const maxMemberValue = 512

// memberValue is a member key's value.
type memberValue struct {
	Joined  string `json:"joined"`
	KeyedBy string `json:"keyed_by,omitempty"` // the secret's mark (see Config.secretMark)
}

func encodeMember(joined time.Time, mark string) string {
	b, _ := json.Marshal(memberValue{Joined: joined.UTC().Format(time.RFC3339), KeyedBy: mark})
	return string(b)
}

// decodeMemberMark returns the secret mark of a member key's value, and
// whether the value could be read at all.
func decodeMemberMark(b []byte) (string, bool) {
	if len(b) > maxMemberValue {
		return "", false
	}
	var v memberValue
	if err := json.Unmarshal(b, &v); err != nil {
		return "", false
	}
	return v.KeyedBy, true
}

// dropMember removes a member from the live ones. Called with f.mu held.
func (f *Fleet) dropMember(member string) {
	if i, found := slices.BinarySearch(f.members, member); found {
		f.members = slices.Delete(f.members, i, i+1)
	}
	delete(f.memberLease, member)
}

// boundsFor are the bounds of a verdict on target: its RTT within the
// probe timeout when this process watches it (twice over: a measure may
// end just as the timeout does). Called with f.mu held.
func (f *Fleet) boundsFor(target string) verdictBounds {
	b := verdictBounds{now: time.Now(), maxRTT: maxUnwatchedRTT}
	if t := f.targets[target]; t != nil {
		b.maxRTT = 2 * t.spec.Timeout
	}
	return b
}

// roomFor reports whether a verdict of member on target may be held: one
// that counts for a watched target always is; others up to verdictRoom.
// Called with f.mu held.
func (f *Fleet) roomFor(target, member string) bool {
	if _, found := f.verdicts[target][member]; found {
		return true // replaces one held
	}
	if _, live := f.memberLease[member]; live && f.targets[target] != nil {
		return true
	}
	return f.held < f.verdictRoom()
}

// verdictRoom bounds the verdicts held: those of the watched targets'
// probers (and as many again, for probers moving), and maxSpareVerdicts.
func (f *Fleet) verdictRoom() int {
	return maxSpareVerdicts + 2*max(f.cfg.Probers, 1)*len(f.targets)
}

// dropImplausible drops the verdicts held on t, a target watched from now
// on, whose RTT its probe timeout rules out (they were checked against
// maxUnwatchedRTT only). Called with f.mu held.
func (f *Fleet) dropImplausible(t *Target) {
	for member, v := range f.verdicts[t.id] {
		if member != f.cfg.Member && v.RTT > 2*t.spec.Timeout {
			f.dropVerdict(t.id, member)
		}
	}
}

// rejectLog logs keys the fleet ignores, at most once every rejectEvery
// (a flood of them must not flood the log), counting those it holds back.
type rejectLog struct {
	last time.Time
	held int
}

// warn logs that key is ignored, and why, unless one was logged less than
// rejectEvery ago. Called with f.mu held.
func (r *rejectLog) warn(now time.Time, key []byte, why string) {
	if !r.last.IsZero() && now.Sub(r.last) < rejectEvery {
		r.held++
		return
	}
	more := ""
	if r.held > 0 {
		more = fmt.Sprintf(" (and %d more ignored keys not logged since the last)", r.held)
	}
	log.Warningf("Fleet: ignoring %q: %s%s", key, health.CleanDetail(why), more)
	r.last, r.held = now, 0
}
