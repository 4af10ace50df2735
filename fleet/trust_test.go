package fleet

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/failover-dns/failover/health"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// put is a PUT event for key, as the watch gives it.
func putEvent(key, value string, lease clientv3.LeaseID) *clientv3.Event {
	return &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte(key), Value: []byte(value), Lease: int64(lease)}}
}

// verdictValue is a verdict as a prober writes it, since a second ago.
func verdictValue(s health.State) string {
	return Verdict{State: s, Since: time.Now().Add(-time.Second), Reason: "refused"}.encode()
}

// foreignTarget watches a target that z does not probe, in a fleet of a, b, z.
func foreignTarget(t *testing.T, f *Fleet) *Target {
	t.Helper()
	for port := uint16(1); ; port++ {
		tg, _ := testTarget(t, f, port)
		if !slices.Contains(tg.probers, "z") {
			return tg
		}
	}
}

// TestFleetIgnoresUnleasedMembers: member keys without a lease are no
// members: they neither join the ranking nor make their verdicts count.
func TestFleetIgnoresUnleasedMembers(t *testing.T) {
	f := testFleet(t, "z", "a", "b", "z")
	tg := foreignTarget(t, f)
	f.publishAs(tg, "a", health.Up, time.Now())
	f.publishAs(tg, "b", health.Up, time.Now())
	var events []*clientv3.Event
	for i := range 24 {
		name := fmt.Sprintf("fake%02d", i)
		events = append(events, putEvent(f.keys.member(name), "{}", 0),
			putEvent(f.keys.verdict(tg.id, name), verdictValue(health.Down), 0))
	}
	f.apply(events)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(f.members, []string{"a", "b", "z"}) {
		t.Errorf("Members %v, want a b z", f.members)
	}
	if tg.dec.state != health.Up || tg.NotifiedBy() != tg.probers[0] {
		t.Errorf("State %v notified by %q; want UP, by %s", tg.dec.state, tg.NotifiedBy(), tg.probers[0])
	}
}

// TestFleetCountsVerdictsUnderTheirMembersLease: a verdict counts only
// under its member's lease, whichever of the two keys arrives first; one
// under another lease leaves the member's last verdict standing.
func TestFleetCountsVerdictsUnderTheirMembersLease(t *testing.T) {
	for _, memberFirst := range []bool{true, false} {
		f := testFleet(t, "z", "z")
		f.cfg.Probers = 3 // a, b and z once a and b join: DOWN from a and b is a majority
		tg, _ := testTarget(t, f, 1)
		f.publishAs(tg, "z", health.Up, time.Now().Add(-time.Minute)) // z alone decides UP
		member := func(name string, lease clientv3.LeaseID) *clientv3.Event {
			return putEvent(f.keys.member(name), "{}", lease)
		}
		verdict := func(name string, s health.State, lease clientv3.LeaseID) *clientv3.Event {
			return putEvent(f.keys.verdict(tg.id, name), verdictValue(s), lease)
		}
		step := func(want health.State, what string, events ...*clientv3.Event) {
			t.Helper()
			f.apply(events)
			if s := stateOf(f, tg); s != want {
				t.Fatalf("memberFirst %v: after %s, state %v, want %v", memberFirst, what, s, want)
			}
		}
		if memberFirst {
			step(health.Up, "the member keys", member("a", 11), member("b", 12))
			step(health.Up, "DOWN under another lease", verdict("a", health.Down, 99), verdict("b", health.Down, 99))
			step(health.Down, "DOWN under their leases", verdict("a", health.Down, 11), verdict("b", health.Down, 12))
			step(health.Down, "UP under another lease", verdict("a", health.Up, 0), verdict("b", health.Up, 99))
		} else {
			step(health.Up, "DOWN before the member keys", verdict("a", health.Down, 11), verdict("b", health.Down, 12))
			step(health.Up, "member keys under other leases", member("a", 21), member("b", 22))
			step(health.Down, "member keys under the verdicts' leases", member("a", 11), member("b", 12))
		}
	}
}

func stateOf(f *Fleet, tg *Target) health.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return tg.dec.state
}

// TestFleetRewritesForeignWrites: a write to this member's verdict that is
// not its own (another lease, another value) queues its verdict again;
// its own write seen again does not. A write to its member key ends the
// session (it registers again).
func TestFleetRewritesForeignWrites(t *testing.T) {
	f := testFleet(t, "a", "a")
	f.lease, f.memberValue = testLease, `{"joined":"x"}`
	tg, _ := testTarget(t, f, 1)
	f.mu.Lock()
	f.noteOwn(tg, health.Update{State: health.Up, Since: time.Now()}, time.Now())
	own := tg.own.encode()
	clear(f.dirty)
	f.mu.Unlock()
	key := f.keys.verdict(tg.id, "a")
	for _, c := range []struct {
		name  string
		ev    *clientv3.Event
		dirty bool
	}{
		{"its own write", putEvent(key, own, testLease), false},
		{"no lease", putEvent(key, verdictValue(health.Down), 0), true},
		{"another lease", putEvent(key, own, 99), true},
		{"another value", putEvent(key, verdictValue(health.Down), testLease), true},
		{"deleted", &clientv3.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(key)}}, true},
	} {
		if lost := f.apply([]*clientv3.Event{c.ev}); lost {
			t.Errorf("%s: the member key counted lost", c.name)
		}
		f.mu.Lock()
		dirty := f.dirty[tg.id]
		clear(f.dirty)
		f.mu.Unlock()
		if dirty != c.dirty {
			t.Errorf("%s: queued again %v, want %v", c.name, dirty, c.dirty)
		}
	}
	member := f.keys.member("a")
	for _, c := range []struct {
		name string
		ev   *clientv3.Event
		lost bool
	}{
		{"its own write", putEvent(member, f.memberValue, testLease), false},
		{"no lease", putEvent(member, f.memberValue, 0), true},
		{"another value", putEvent(member, "{}", testLease), true},
	} {
		if lost := f.apply([]*clientv3.Event{c.ev}); lost != c.lost {
			t.Errorf("Member key, %s: lost %v, want %v", c.name, lost, c.lost)
		}
	}
}

// TestFleetBoundsHeldVerdicts: verdicts on targets not watched here, or
// of members not live, are held up to a bound, whatever is written.
func TestFleetBoundsHeldVerdicts(t *testing.T) {
	f := testFleet(t, "z", "a", "z")
	tg, _ := testTarget(t, f, 1)
	var events []*clientv3.Event
	for i := range 3 * maxSpareVerdicts {
		events = append(events, putEvent(f.keys.verdict(fmt.Sprintf("%032x", i), "a"), verdictValue(health.Up), testLease),
			putEvent(f.keys.verdict(tg.id, fmt.Sprintf("ghost%d", i)), verdictValue(health.Up), 5))
	}
	f.apply(events)
	f.apply([]*clientv3.Event{putEvent(f.keys.verdict(tg.id, "a"), verdictValue(health.Down), testLease)})
	f.mu.Lock()
	defer f.mu.Unlock()
	// Beyond the room: the live members' verdicts on watched targets (z's
	// own, from its probing, and a's).
	if bound := f.verdictRoom() + len(f.members)*len(f.targets); f.held > bound {
		t.Errorf("%d verdicts held, over %d", f.held, bound)
	}
	if _, ok := f.counted(tg.id, "a"); !ok {
		t.Error("A live member's verdict on a watched target was refused for lack of room")
	}
}
