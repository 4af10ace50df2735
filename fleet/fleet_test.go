package fleet

import (
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/failover-dns/failover/health"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// testFleet is a Fleet without a session: the test plays etcd's part by
// setting members and verdicts, and drives time by hand.
func testFleet(t *testing.T, me string, members ...string) *Fleet {
	t.Helper()
	f := &Fleet{
		cfg:  Config{Member: me, Probers: 2, Quorum: Majority, Lease: 2 * time.Second, Prefix: "/failover"},
		keys: newKeys("/failover"), wake: make(chan struct{}, 1), mode: Joined, members: members,
		verdicts: map[string]map[string]Verdict{}, targets: map[string]*Target{}, dirty: map[string]bool{},
		memberLease: map[string]clientv3.LeaseID{}, apart: map[string]string{},
	}
	for _, m := range members {
		f.memberLease[m] = testLease
	}
	return f
}

// testLease is every member's lease in a testFleet.
const testLease clientv3.LeaseID = 7

// testTarget watches a target whose probes (if any run) are refused, and
// records what a pool subscribed to it hears.
func testTarget(t *testing.T, f *Fleet, port uint16) (*Target, *heard) {
	t.Helper()
	check, err := health.NewCheck(health.CheckConfig{URL: "tcp://127.0.0.1:" + strconv.Itoa(int(port)), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	spec := health.Spec{Addr: netip.MustParseAddr("127.0.0.1"), Checks: []*health.Check{check}, Interval: time.Second,
		FastInterval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond, Rise: 1, Fall: 1}
	tg := f.Watch(spec, false)
	h := &heard{}
	unsub := tg.Subscribe(h.add)
	t.Cleanup(func() { unsub(); tg.Release() })
	return tg, h
}

type heard struct {
	mu      sync.Mutex
	updates []health.Update
}

func (h *heard) add(u health.Update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.updates = append(h.updates, u)
}

func (h *heard) last() health.Update {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.updates) == 0 {
		return health.Update{}
	}
	return h.updates[len(h.updates)-1]
}

// publishAs plays a prober's verdict arriving through the watch.
func (f *Fleet) publishAs(t *Target, member string, s health.State, since time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setVerdict(t.id, member, Verdict{State: s, Since: since, Reason: "refused", lease: testLease})
	f.redecide(t, since)
}

// TestFleetQuorum: a replica that does not probe a target follows the
// quorum of its probers' verdicts: one DOWN holds, two move it, and the
// way back is a recovery (the pool's hold-down) with the quorum's since.
func TestFleetQuorum(t *testing.T) {
	f := testFleet(t, "z", "a", "b", "z")
	var tg *Target
	var h *heard
	for port := uint16(1); ; port++ { // a target z does not probe
		tg, h = testTarget(t, f, port)
		if !slices.Contains(tg.probers, "z") {
			break
		}
	}
	if tg.probing {
		t.Fatal("z probes a target it is not a prober of")
	}
	p1, p2 := tg.probers[0], tg.probers[1]
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	f.publishAs(tg, p1, health.Up, t0)
	if got := h.last(); got.State != health.Unknown && len(h.updates) > 0 {
		t.Fatalf("One UP of two probers decided %s", got.State)
	}
	f.publishAs(tg, p2, health.Up, t0.Add(time.Second))
	if got := h.last(); got.State != health.Up || !got.Changed || !got.Remote || !got.Shared || !got.Since.Equal(t0.Add(time.Second)) {
		t.Fatalf("Two UP verdicts: %+v", got)
	}
	n := len(h.updates)
	f.publishAs(tg, p1, health.Down, t0.Add(2*time.Second))
	if len(h.updates) != n {
		t.Fatalf("One DOWN of two moved the target: %+v", h.last())
	}
	f.publishAs(tg, p2, health.Down, t0.Add(3*time.Second))
	if got := h.last(); got.State != health.Down || got.Result.OK || got.Result.Reason != "refused" {
		t.Fatalf("Two DOWN verdicts: %+v", got)
	}
	f.publishAs(tg, p1, health.Up, t0.Add(4*time.Second))
	f.publishAs(tg, p2, health.Up, t0.Add(5*time.Second))
	if got := h.last(); got.State != health.Up || !got.Recovered {
		t.Fatalf("Back UP: %+v, want a recovery", got)
	}
	if tg.NotifiedBy() != p1 {
		t.Errorf("Events notified by %q, want the best-ranked prober %s", tg.NotifiedBy(), p1)
	}
}

// TestFleetTakesBackItsVerdict: a prober that is no longer one (a member
// joined) withdraws its verdict from the view and from etcd, so that if
// it is assigned the target again it abstains until its next verdict.
func TestFleetTakesBackItsVerdict(t *testing.T) {
	f := testFleet(t, "a", "a")
	tg, _ := testTarget(t, f, 1)
	f.mu.Lock()
	f.noteOwn(tg, health.Update{State: health.Up, Since: time.Now()}, time.Now())
	if _, ok := f.verdicts[tg.id]["a"]; !ok || !f.dirty[tg.id] {
		f.mu.Unlock()
		t.Fatal("A prober's verdict is not in the view and queued")
	}
	delete(f.dirty, tg.id)
	// Members join until a is not among the target's probers.
	for i := 0; slices.Contains(tg.probers, "a"); i++ {
		f.members = append(f.members, "m"+strconv.Itoa(i))
		slices.Sort(f.members)
		f.reassign(time.Now())
	}
	_, kept := f.verdicts[tg.id]["a"]
	own, dirty, probing := tg.own, f.dirty[tg.id], tg.probing
	f.mu.Unlock()
	if kept || own != nil || !dirty || probing {
		t.Errorf("After losing the target: verdict in view %v, own %v, queued for deletion %v, probing %v", kept, own, dirty, probing)
	}
}

// TestFleetOrphan: a target whose probers give no verdicts (they lack it)
// is probed here and decided alone once lease + 2 intervals have passed,
// not before, and handed back to the fleet when the verdicts come.
func TestFleetOrphan(t *testing.T) {
	f := testFleet(t, "z", "a", "b", "z")
	var tg *Target
	for port := uint16(1); ; port++ {
		tg, _ = testTarget(t, f, port)
		if !slices.Contains(tg.probers, "z") {
			break
		}
	}
	now := time.Now()
	f.mu.Lock()
	probed := f.probed // the other targets the search made, which z probes
	f.orphans(now)
	f.orphans(now.Add(f.cfg.Lease + 2*tg.spec.Interval - time.Millisecond))
	early := tg.orphan || tg.probing
	f.orphans(now.Add(f.cfg.Lease + 2*tg.spec.Interval + time.Millisecond))
	late := tg.orphan && tg.probing && tg.NotifiedBy() == "" && f.probed == probed+1
	f.setVerdict(tg.id, tg.probers[0], Verdict{State: health.Up, Since: now, lease: testLease})
	f.setVerdict(tg.id, tg.probers[1], Verdict{State: health.Up, Since: now, lease: testLease})
	f.orphans(now.Add(time.Minute))
	back := !tg.orphan && !tg.probing && tg.dec.state == health.Up && f.probed == probed
	f.mu.Unlock()
	if early || !late || !back {
		t.Errorf("Orphan before its time %v, after it (probing, notifying) %v, back to the fleet %v", early, late, back)
	}
}

// TestFleetLocalMode: in local mode the member probes every target and
// decides from its own rounds; the rounds it runs as a prober in the
// fleet only carry the fleet's state.
func TestFleetLocalMode(t *testing.T) {
	f := testFleet(t, "z", "a", "b", "z")
	tg, h := testTarget(t, f, 1)
	f.publishAs(tg, tg.probers[0], health.Up, time.Now())
	f.publishAs(tg, tg.probers[1], health.Up, time.Now())
	f.mu.Lock()
	f.setMode(Local, "test")
	probing := tg.probing
	f.mu.Unlock()
	if !probing {
		t.Fatal("Local mode does not probe every target")
	}
	tg.onLocal(health.Update{State: health.Down, Since: time.Now(), Changed: true, Result: health.Result{Reason: "refused"}})
	if got := h.last(); got.State != health.Down || got.Shared || got.Remote {
		t.Errorf("A local round in local mode gave %+v, want DOWN decided here", got)
	}
}

// TestFleetRTTRepublished: a prober republishes a moved RTT (after 30 s)
// only for a target some pool steers by; otherwise its verdict changes, and
// etcd is written, only with its state.
func TestFleetRTTRepublished(t *testing.T) {
	for _, steers := range []bool{false, true} {
		f := testFleet(t, "a", "a")
		tg, _ := testTarget(t, f, 1)
		f.mu.Lock()
		tg.steersByRTT = steers
		t0 := time.Now()
		since := t0
		f.noteOwn(tg, health.Update{State: health.Up, Since: since, RTT: time.Millisecond}, t0)
		delete(f.dirty, tg.id)
		f.noteOwn(tg, health.Update{State: health.Up, Since: since, RTT: 40 * time.Millisecond}, t0.Add(RTTPublishEvery))
		published := f.dirty[tg.id]
		f.mu.Unlock()
		if published != steers {
			t.Errorf("A pool steers by RTT %v: moved RTT republished %v", steers, published)
		}
	}
}
