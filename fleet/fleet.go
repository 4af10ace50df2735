package fleet

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/failover-dns/failover/health"
	"github.com/failover-dns/failover/internal/shared"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var log = clog.NewWithPlugin("failover")

// Mode is how a member decides its targets' states.
type Mode int

const (
	// Joining: not yet in the fleet (etcd not reached since the start, for
	// less than a lease). Nothing is probed; states hold.
	Joining Mode = iota
	// Joined: in the fleet; states are the quorum of the probers' verdicts.
	Joined
	// Local: etcd lost for longer than the lease (or never reached within
	// it): the member probes every target itself and decides alone.
	Local
)

func (m Mode) String() string {
	return [...]string{"joining", "fleet", "local"}[m]
}

// Fleet is one member's part in a fleet: its session with etcd, the view of
// the members and verdicts, and the targets this process watches. One runs
// per distinct Config, shared by every server block and by the
// configurations a reload overlaps, so that a reload keeps the membership
// and the state.
type Fleet struct {
	cfg    Config
	key    string
	keys   keys
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{} // the publisher has work
	holds  sync.WaitGroup

	mu      sync.Mutex // guards below; held while subscribers are called
	mode    Mode
	client  *clientv3.Client
	lease   clientv3.LeaseID // 0 without a session
	members []string         // live members, sorted
	// memberLease: each live member's lease; its verdicts count only
	// when written under it (see counted).
	memberLease map[string]clientv3.LeaseID
	// apart: live members keyed by another secret, and their mark, as
	// last logged (see keyedApart).
	apart map[string]string
	// verdicts: by target, then member; held verdicts, counted or not
	// (a verdict may arrive before its member's key). held counts them,
	// bounded by verdictRoom.
	verdicts map[string]map[string]Verdict
	held     int
	// memberValue: the member key's value as this member wrote it, to
	// tell a foreign write to it.
	memberValue string
	rejects     rejectLog
	targets     map[string]*Target
	dirty       map[string]bool // targets whose own verdict etcd does not have yet
	probed      int             // targets this member probes now
	// contact is when etcd last answered (a session made, a keep-alive
	// acknowledged); the start, before that.
	contact       time.Time
	previousLease clientv3.LeaseID // the last session's, taken over by the next
	ttl           time.Duration    // the lease's TTL as etcd granted it (it may raise it)
	// granted is a lease being registered with: if the session ends
	// before register settles it (a canceled Txn may still have been
	// applied), Release revokes it too.
	granted clientv3.LeaseID
	// pred is the fleet this one took the member over from (a reload that
	// changed the fleet line): its targets' states seed this one's.
	pred *Fleet
}

// fleets holds the running fleets by configuration (see Config.key).
var fleets shared.Registry[string, *Fleet]

// Acquire returns the running fleet for cfg, starting one if there is none.
// It never waits for etcd: the session is made in the background. Every
// Acquire needs a Release.
func Acquire(cfg Config) *Fleet {
	f, _ := fleets.Acquire(cfg.key(), func(running shared.View[string, *Fleet]) (*Fleet, error) {
		return start(cfg, running), nil
	})
	return f
}

// start starts the fleet for cfg, taking the member over from a running
// fleet of the same member (see sameMember). Called with fleets held.
func start(cfg Config, running shared.View[string, *Fleet]) *Fleet {
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fleet{
		cfg: cfg, key: cfg.key(), keys: newKeys(cfg.Prefix), cancel: cancel,
		wake:        make(chan struct{}, 1),
		verdicts:    map[string]map[string]Verdict{},
		memberLease: map[string]clientv3.LeaseID{},
		apart:       map[string]string{},
		targets:     map[string]*Target{},
		dirty:       map[string]bool{},
		contact:     time.Now(),
	}
	if pred, found := running.Find(sameMember(cfg)); found {
		f.takeOver(pred)
	}
	exportMode(f.mode)
	f.wg.Go(func() { f.run(ctx) })
	f.wg.Go(func() { f.publishLoop(ctx) })
	f.wg.Go(func() { f.tick(ctx) })
	log.Infof("Fleet: member %s joining through etcd %v under %s", cfg.Member, cfg.Endpoints, cfg.Prefix)
	return f
}

// revoke ends the member's leases (its last, or the one it took over, and
// one it was registering with), so that its key and verdicts go at once and peers take over. The session is over
// by now, so it uses a client of its own, bounded to a second or so.
func (f *Fleet) revoke(leases []clientv3.LeaseID) {
	leases = slices.DeleteFunc(leases, func(l clientv3.LeaseID) bool { return l == 0 })
	if len(leases) == 0 {
		return
	}
	client, err := clientv3.New(f.clientConfig(context.Background(), time.Second))
	if err != nil {
		return // the leases run out by themselves
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, lease := range leases {
		client.Revoke(ctx, lease)
	}
}

// sameMember matches the running fleet of the member cfg names under the
// same prefix: the one a reload that changed the fleet line replaces.
func sameMember(cfg Config) func(string, *Fleet) bool {
	return func(_ string, f *Fleet) bool { return f.cfg.Member == cfg.Member && f.cfg.Prefix == cfg.Prefix }
}

// takeOver makes f the member pred was, so that a reload that changes the
// fleet line keeps the member's standing: f registers by taking pred's
// member key over (its lease), starts from pred's view and mode, and its
// targets from pred's states (see Watch). pred stops talking to etcd at
// once (its session, publisher and timers end) and keeps its last
// decisions for the pools still reading it until the reload completes.
func (f *Fleet) takeOver(pred *Fleet) {
	pred.mu.Lock()
	f.previousLease, f.ttl, f.mode, f.contact = pred.previousLease, pred.ttl, pred.mode, pred.contact
	f.members, f.memberLease, f.held = slices.Clone(pred.members), maps.Clone(pred.memberLease), pred.held
	for id, vs := range pred.verdicts {
		f.verdicts[id] = maps.Clone(vs)
	}
	pred.mu.Unlock()
	f.pred = pred
	pred.cancel()
	log.Infof("Fleet: member %s: the fleet line changed; the new configuration takes the member over", f.cfg.Member)
}

// Release drops one reference; the last one leaves the fleet (revoking the
// lease, so that peers take over at once) and waits for its goroutines.
func (f *Fleet) Release() { fleets.Release(f.key, (*Fleet).stop) }

// stop leaves the fleet: the last Release's.
func (f *Fleet) stop() {
	f.cancel()
	f.wg.Wait()
	f.holds.Wait()
	f.mu.Lock()
	client, leases := f.client, []clientv3.LeaseID{f.previousLease, f.granted}
	f.client, f.lease, f.pred = nil, 0, nil
	f.mu.Unlock()
	if client != nil {
		client.Close() // it lived in the fleet's context, which is over
	}
	f.revoke(leases)
	fleets.Do(func(running shared.View[string, *Fleet]) {
		if running.Len() == 0 {
			forgetMode()
		}
	})
	log.Infof("Fleet: member %s left", f.cfg.Member)
}

// Member is this replica's name in the fleet.
func (f *Fleet) Member() string { return f.cfg.Member }

// Watch returns the fleet's view of the target spec probes, shared by every
// pool of the process that has it. steersByRTT: the caller's answers follow
// the target's RTT (policy fastest, slow_rtt), so its probers republish
// the RTT when it moves (at most every RTTPublishEvery); without any such
// caller a verdict carries the RTT of its last change of state only, and
// the steady state costs etcd nothing. Every Watch needs a Release of the
// returned Target.
func (f *Fleet) Watch(spec health.Spec, steersByRTT bool) *Target {
	id := f.cfg.TargetID(spec)
	f.mu.Lock()
	if t := f.targets[id]; t != nil {
		t.refs++
		t.steersByRTT = t.steersByRTT || steersByRTT
		f.mu.Unlock()
		return t
	}
	f.mu.Unlock()
	seed := f.pred.snapshot(id) // not under f.mu: no code holds two fleets' locks
	f.mu.Lock()
	if t := f.targets[id]; t != nil { // watched meanwhile
		t.refs++
		t.steersByRTT = t.steersByRTT || steersByRTT
		f.mu.Unlock()
		return t
	}
	t := newTarget(f, id, spec)
	t.steersByRTT = steersByRTT
	f.dropImplausible(t)
	seed.into(t)
	f.targets[id] = t
	f.assign(t)
	f.decide(t, time.Now()) // nobody listens yet
	f.mu.Unlock()
	// Not under f.mu: the monitor calls its subscribers with its own lock
	// held, and they take f.mu.
	t.listen()
	return t
}

// release drops a reference to t; the last one forgets it and stops its
// monitor (outside f.mu: stopping waits for the monitor's callbacks).
func (f *Fleet) release(t *Target) {
	f.mu.Lock()
	t.refs--
	last := t.refs == 0
	if last {
		delete(f.targets, t.id)
		if t.own != nil {
			f.takeBack(t)
		}
		t.setProbing(false)
	}
	f.mu.Unlock()
	if last {
		t.stop()
	}
}

// tick runs the fleet's timers: the targets nobody decides for (see
// orphans), and the loss of etcd for longer than the lease (see run).
func (f *Fleet) tick(ctx context.Context) {
	every := min(f.cfg.Lease/4, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := time.Now()
			f.mu.Lock()
			f.watchdog(now)
			f.orphans(now)
			f.mu.Unlock()
		}
	}
}

// orphans lets every member that has a target probe it and decide alone
// while fewer of its probers than the quorum have had a verdict on it for
// lease + 2 intervals (its probers run a Corefile without it, say, during
// a rollout), until enough do. A prober that dies is replaced well within
// that time, so this never takes over from a fleet that is merely moving
// a target. Called with f.mu held.
func (f *Fleet) orphans(now time.Time) {
	if f.mode != Joined {
		return
	}
	for _, t := range f.targets {
		switch {
		case f.quorate(t):
			t.silentSince = time.Time{}
			if t.orphan {
				t.orphan = false
				log.Infof("Fleet: the probers of %s (%s) have verdicts again: the fleet decides it", t.spec.Addr, t.id)
				f.assign(t)
				f.redecide(t, now)
			}
		case t.silentSince.IsZero():
			t.silentSince = now
		case !t.orphan && now.Sub(t.silentSince) > f.cfg.Lease+2*t.spec.Interval:
			t.orphan = true
			log.Infof("Fleet: too few probers of %s (%s) have a verdict for %s: probing it here too, and deciding alone until they do",
				t.spec.Addr, t.id, now.Sub(t.silentSince).Round(time.Second))
			f.assign(t)
			f.redecide(t, now)
		}
	}
}

// quorate reports whether enough of t's current probers have a verdict on
// it to make a quorum. Called with f.mu held.
func (f *Fleet) quorate(t *Target) bool {
	n := 0
	for _, m := range t.probers {
		if _, ok := f.counted(t.id, m); ok {
			n++
		}
	}
	return len(t.probers) > 0 && n >= f.cfg.quorumOf(len(t.probers))
}

// assign sets who probes t, and whether this member does: as one of its
// probers, as an orphan's prober, or for every target in local mode.
// Called with f.mu held.
func (f *Fleet) assign(t *Target) {
	t.probers = probersOf(t.id, f.members, f.cfg.Probers)
	mine := slices.Contains(t.probers, f.cfg.Member)
	probe := f.mode == Local || f.mode == Joined && (mine || t.orphan)
	if !mine && t.own != nil {
		f.takeBack(t) // not a prober any more
	}
	t.setProbing(probe)
}

// reassign assigns and decides every target, after the members or the
// mode changed. Called with f.mu held.
func (f *Fleet) reassign(now time.Time) {
	for _, t := range f.targets {
		f.assign(t)
		f.redecide(t, now)
	}
	membersGauge.Set(float64(len(f.members)))
}

// setMode changes the mode and reassigns. Called with f.mu held.
func (f *Fleet) setMode(m Mode, why string) {
	if f.mode == m {
		return
	}
	log.Infof("Fleet: member %s: %s -> %s: %s", f.cfg.Member, f.mode, m, why)
	f.mode = m
	exportMode(m)
	for _, t := range f.targets {
		t.silentSince = time.Time{} // the probers' silence counts from now
	}
	f.reassign(time.Now())
}

// takeBack withdraws this member's verdict on t, from the view at once (a
// prober assigned again abstains until its next verdict) and from etcd.
// Called with f.mu held.
func (f *Fleet) takeBack(t *Target) {
	t.own = nil
	f.dropVerdict(t.id, f.cfg.Member)
	f.markDirty(t.id)
}

// markDirty queues t's own verdict (or its removal) for etcd. Called with f.mu held.
func (f *Fleet) markDirty(id string) {
	f.dirty[id] = true
	f.markDirtyWake()
}
