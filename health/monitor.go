package health

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxStartSpread bounds the random delay before a target's first round:
// first rounds spread over min(Interval, MaxStartSpread), so that thousands
// of targets configured together never start as one burst (a burst
// saturates the machine, its probes time out, and the timeouts start
// confirmation rounds that feed the next burst), while every target still
// has a verdict within MaxStartSpread + Timeout of start-up.
const MaxStartSpread = 5 * time.Second

// HardEvidenceSpacing separates the confirmation rounds of a failure that
// is proof rather than a symptom: a round woken by the connection watch (the
// target closed or reset the watched connection) in which every TCP-based
// check was refused at connect (ReasonRefused).
// The kernel saying that nothing listens is not a flaky probe, so the
// rounds that Fall still asks for run this far apart (start to start)
// instead of FastInterval, for as long as they keep failing that way; any
// other failure (timeout, status, mismatch, slow, tls...) brings back
// FastInterval, and a success ends the streak as always.
//
// A woken round whose TCP-based checks were reset rather than refused
// (a dying process's listener drops the connections it had not accepted
// yet, so a connect made while the process exits is reset) is followed by
// one round this far apart too; if that one is refused, the evidence is
// hard from there on, and otherwise FastInterval applies (a proxy failing
// requests with resets costs one early round).
const HardEvidenceSpacing = 50 * time.Millisecond

// Spec is everything that decides one target's health. Targets with equal
// specs, in any pool of any server block, share one Monitor: the checks run
// once and every subscriber sees the result.
type Spec struct {
	Addr netip.Addr // where probes go
	Port uint16     // probe port for every check; 0: each check's own
	// Checks run together in each round; at least Require of them must pass
	// (0 means all of them).
	Checks  []*Check
	Require int
	// Interval separates rounds while the state is settled; FastInterval
	// separates them while a change is being confirmed (HAProxy's fastinter).
	Interval     time.Duration
	FastInterval time.Duration
	Timeout      time.Duration
	Rise, Fall   int
	// Watch keeps an idle TCP connection open to the port of every
	// TCP-based check and probes at once when the peer closes it, so that a
	// crashed process is noticed in about (Fall-1) × HardEvidenceSpacing
	// when its port then refuses connections, (Fall-1) × FastInterval
	// otherwise.
	Watch bool
}

func (s Spec) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%d|%d|%s|%s|%s|%d|%d|%v", s.Addr, s.Port, s.Require, s.Interval, s.FastInterval, s.Timeout, s.Rise, s.Fall, s.Watch)
	for _, c := range s.Checks {
		b.WriteString("\x00")
		b.WriteString(c.Key())
	}
	return b.String()
}

// ID identifies the spec across processes: replicas reading identical
// Corefiles give a target the same ID, so that they can agree on it (the
// key has no pointer or other process-specific part; file contents enter
// it as digests). It is the hex of the first 16 bytes of the SHA-256 of
// the spec's key: it can be shared or logged without revealing the spec's
// content (check headers, tokens in URLs).
func (s Spec) ID() string {
	sum := sha256.Sum256([]byte(s.key()))
	return hex.EncodeToString(sum[:16])
}

// Update is what a subscriber hears after each probe round.
type Update struct {
	Result Result
	State  State
	Since  time.Time // when the target entered State
	// Recovered says State is UP after having been DOWN (not a first
	// verdict), until EndHold ends the hold-down that this calls for.
	Recovered bool
	// Passed says the target passed a probe round at some point (for a new
	// subscriber too: a reload does not forget it).
	Passed  bool
	Changed bool
	// RTT is the target's smoothed round-trip time after this round (see
	// Monitor.RTT); 0 until a round passed.
	RTT time.Duration
	// Replay marks an update no new probe made: the current state handed to
	// a new subscriber, or the end of a hold-down (EndHold).
	Replay bool
	// Remote marks news no probe of this process made: another member of a
	// fleet published a verdict, and the fleet's state or RTT changed.
	// Monitors never set it.
	Remote bool
	// Shared says State, Since and RTT are a fleet's (a quorum of its
	// probers' verdicts), not this process's own probing alone. Monitors
	// never set it.
	Shared bool
}

// Monitor probes one target address with a set of checks and keeps its
// state with a Tracker, while at least one of its references asks for
// probing (see Standby).
type Monitor struct {
	spec    Spec
	key     string
	refs    int           // Acquire and AcquireStandby references; guarded by registry
	done    chan struct{} // closed once the scheduler let go of the monitor
	engine  *probeEngine
	sched   *scheduler     // the engine's when the monitor started
	watches *poller        // the engine's when the monitor started
	holds   sync.WaitGroup // EndHold calls under way

	// Guarded by the scheduler's lock.
	due    time.Time // when the next round is due
	index  int       // in the scheduler's heap
	where  int       // monitorIdle...
	woken  bool      // the watched connection ended: the next round is due at once
	demand int       // references asking for probing: every Acquire, and each Standby while SetProbing(true)

	probing atomic.Bool   // demand > 0; written with the scheduler's lock held
	resumes atomic.Uint64 // how many times demand rose from 0 (see forgetIfResumed)

	hard    bool // confirming a failure with hard evidence; only rounds touch it
	suspect bool // a woken round was reset: the next round looks for hard evidence; only rounds touch it

	watchMu   sync.Mutex
	unwatch   func()      // ends the watch; nil when there is none
	unwatched bool        // the watch budget left the target unwatched
	watching  atomic.Bool // a watch connection is open

	nextDue  atomic.Int64 // UnixNano of the next scheduled round
	earliest atomic.Int64 // UnixNano of the earliest possible state change
	rtt      atomic.Int64 // smoothed round-trip time (ns); written with mu held

	opMu     sync.Mutex
	opCancel context.CancelFunc // ends the operation under way
	stopping bool               // Release began

	mu        sync.Mutex // guards below; held while subscribers are called
	tracker   *Tracker
	last      Result
	since     time.Time
	recovered bool
	passed    bool
	subs      []subscriber // few: one per pool probing the target this way
	nextID    uint64
	resumed   uint64 // resumes when the tracker last started afresh
}

type subscriber struct {
	id uint64
	fn func(Update)
}

var registry = struct {
	sync.Mutex
	monitors map[string]*Monitor
}{monitors: map[string]*Monitor{}}

// Acquire returns the running Monitor for spec, starting one if there is
// none. Every Acquire needs a Release. Because a Corefile reload acquires
// the new configuration's monitors before it releases the old ones, a
// target whose spec did not change keeps its monitor, its state and its
// probe schedule across the reload.
//
// The monitors own the checks they probe with: a check is closed when the
// last monitor using it stops, and callers never close checks. When a
// monitor for an equal spec already runs, it keeps its own checks and those
// in spec are not used; a check that never probed holds no connection or
// other resource (NewCheck opens nothing that outlives it), so nothing needs
// closing and the garbage collector takes it.
//
// The reference asks for probing until it is released: the monitor probes
// as long as it has such a reference, whatever its Standby references say.
func Acquire(spec Spec) *Monitor {
	registry.Lock()
	defer registry.Unlock()
	m := reference(spec)
	m.sched.raiseDemand(m)
	return m
}

// reference returns the monitor for spec with one more reference, making
// one if there is none: a new monitor is idle until a reference asks for
// probing. Called with registry held.
func reference(spec Spec) *Monitor {
	k := spec.key()
	if m := registry.monitors[k]; m != nil {
		m.refs++
		return m
	}
	for _, c := range spec.Checks {
		c.users++
	}
	engine.start()
	engine.live++
	m := &Monitor{
		spec:    spec,
		key:     k,
		refs:    1,
		done:    make(chan struct{}),
		engine:  &engine,
		sched:   engine.sched,
		watches: engine.watches,
		tracker: NewTracker(spec.Rise, spec.Fall),
	}
	registry.monitors[k] = m
	return m
}

// Release drops one reference acquired with Acquire; the last reference
// stops the monitor, waits for a round under way to end and closes the
// checks no other monitor uses.
func (m *Monitor) Release() { m.drop(true) }

// drop drops one reference of either kind, and its demand for probing if
// it had one (see Release). Both change together, with registry held, so
// that a reference taken and one dropped at once never let the demand fall
// to 0 in between: the monitor would start afresh. The last reference
// keeps its demand, as stopping ends everything anyway: a monitor that
// probed until its release still shows its last schedule (NextProbe) to a
// pool of the old configuration answering a last query.
func (m *Monitor) drop(demanding bool) {
	registry.Lock()
	m.refs--
	last := m.refs == 0
	if last {
		delete(registry.monitors, m.key)
	}
	idle := demanding && !last && m.sched.lowerDemand(m)
	registry.Unlock()
	if idle {
		m.quietIfIdle()
	}
	if !last {
		return
	}
	m.stop()
	m.sched.remove(m)
	m.disarm()
	m.setUnwatched(false)
	m.holds.Wait()
	// One pool's checks serve the monitors of all its targets, and a reload
	// may hand a monitor to the next configuration: count the users.
	var unused []*Check
	registry.Lock()
	for _, c := range m.spec.Checks {
		if c.users--; c.users == 0 {
			unused = append(unused, c)
		}
	}
	if engine.live--; engine.live == 0 {
		engine.stop()
	}
	registry.Unlock()
	for _, c := range unused {
		c.close()
	}
}

// EarliestChange returns the earliest moment the monitor's state could
// change, counting the confirmations already under way: the next scheduled
// round before the first verdict; otherwise that round plus the fast rounds
// still needed to confirm a change (Rise or Fall less the streak in
// progress, minus one, each FastInterval later, or HardEvidenceSpacing
// later while a failure with hard evidence is being confirmed). It is in
// the past while an overdue round runs. A target that closes the watched
// connection (Watch) can bring the next round forward, and then its
// confirmations too; that is not counted, or no TTL could ever be longer
// than zero. It is the zero time while the monitor is idle (see
// NextProbe): no round is due, so no probe can change the state. It takes
// no lock, so subscribers and queries may call it.
func (m *Monitor) EarliestChange() time.Time {
	if !m.probing.Load() {
		return time.Time{}
	}
	return time.Unix(0, m.earliest.Load())
}

// schedule records when the next round is due and, from the tracker and
// the spacing of the confirmation rounds, the earliest change. Called by the
// monitor's goroutine with m.mu held (or before it starts), so both are set
// before subscribers hear of a round.
func (m *Monitor) schedule(due time.Time, spacing time.Duration) {
	m.nextDue.Store(due.UnixNano())
	confirm := time.Duration(m.tracker.Remaining()-1) * spacing
	m.earliest.Store(due.Add(confirm).UnixNano())
}

// scheduleFirst is schedule for a monitor that is to start afresh (see
// resume): its first round may give a verdict. It does not read the
// tracker, so the scheduler may call it without m.mu, while m is idle.
func (m *Monitor) scheduleFirst(due time.Time) {
	m.nextDue.Store(due.UnixNano())
	m.earliest.Store(due.UnixNano())
}

// forgetIfResumed starts the tracker afresh if probing resumed since it
// last did: the monitor was idle for any length of time, so what it knew
// of the target is stale, and the first round after resuming gives a first
// verdict (Changed) as a new monitor's does. The smoothed RTT and Passed
// are kept: they describe the target, not its current state. The resuming
// side cannot reset the tracker itself (SetProbing does not take m.mu), so
// whoever takes m.mu next does it. Called with m.mu held.
func (m *Monitor) forgetIfResumed() {
	n := m.resumes.Load()
	if n == m.resumed {
		return
	}
	m.resumed = n
	m.tracker.Reset()
	m.recovered = false
}

// RTT returns the target's smoothed round-trip time: each passed round's
// RTT (the slowest of its passed checks, which run in parallel, each by the
// RTT its type measures: see Result.RTT) folded into an exponentially
// weighted moving average with factor RTTFactor,
// starting from the first passed round's. Failed rounds do not count: a
// timeout measures the timeout, not the target. 0 until a round passed. It
// takes no lock, so subscribers and queries may call it.
func (m *Monitor) RTT() time.Duration { return time.Duration(m.rtt.Load()) }

// Running returns how many monitors run: one per distinct target spec.
func Running() int {
	registry.Lock()
	defer registry.Unlock()
	return len(registry.monitors)
}

// Subscribe calls fn after every probe round until the returned function
// is called. If the target already has a state, fn first gets it as a
// Replay. fn is called with the monitor's lock held, one call at a time,
// mostly on the monitor's goroutine: it must not block for long, nor call
// Subscribe or an unsubscribe function (EndHold, NextProbe,
// EarliestChange and a Standby's SetProbing are safe).
func (m *Monitor) Subscribe(fn func(Update)) (unsubscribe func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetIfResumed()
	id := m.nextID
	m.nextID++
	m.subs = append(m.subs, subscriber{id, fn})
	if s := m.tracker.State(); s != Unknown {
		fn(m.update(m.last, true, true))
	}
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.subs = slices.DeleteFunc(m.subs, func(s subscriber) bool { return s.id == id })
	}
}

// update is what subscribers hear about the current state. Called with m.mu held.
func (m *Monitor) update(r Result, changed, replay bool) Update {
	return Update{Result: r, State: m.tracker.State(), Since: m.since, Recovered: m.recovered, Passed: m.passed, Changed: changed, Replay: replay, RTT: m.RTT()}
}

// EndHold ends the target's failback hold-down for good, as an operator's
// 'up' does: it clears Recovered, and every subscriber (every pool sharing
// the monitor) hears an Update with Replay (no probe ran), Changed, the
// current State, Since, Result and RTT, and Recovered false; a later
// configuration's subscribers get the same in their replay. A later DOWN
// then UP sets Recovered again. It does nothing when the target is not
// recovered.
//
// EndHold returns at once and the subscribers hear of it on another
// goroutine, so that a subscriber, or a caller holding a lock that
// subscribers take, may call it. Call it only between Acquire and Release.
func (m *Monitor) EndHold() {
	m.holds.Go(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.forgetIfResumed()
		if !m.recovered {
			return
		}
		m.recovered = false
		u := m.update(m.last, true, true)
		for _, sub := range m.subs {
			sub.fn(u)
		}
	})
}

// round runs one probe round (woke: the watched connection ended; due:
// when the round was due) and returns when the next one is due. Rounds
// start every Interval (start to start) with ±5 % jitter so that targets
// configured together do not stay in lock-step, and at once when the
// watched connection closes. While a change is being confirmed they start
// sooner (see next). Only one round of a monitor runs at a time.
func (m *Monitor) round(woke bool, due time.Time) time.Time {
	start := time.Now()
	if !woke {
		probeLateness.Observe(start.Sub(due).Seconds())
	}
	r, sample, ev := m.probe()
	end := time.Now()
	if m.stopped() {
		return end // cut short by shutdown: not a verdict on the target
	}
	m.mu.Lock()
	m.forgetIfResumed()
	before := m.tracker.State()
	s, changed := m.tracker.Observe(r.OK)
	m.last = r
	if r.OK {
		m.rtt.Store(int64(ewma(m.RTT(), sample)))
	}
	if changed {
		m.since = time.Now()
		m.recovered = before == Down && s == Up
	}
	m.passed = m.passed || s == Up
	// Hard evidence starts with a refused round the watch woke (or the round
	// after a woken one that was reset, see HardEvidenceSpacing) and lasts
	// while the failure streak goes on with refusals.
	confirming := s == Up && m.tracker.Pending()
	m.hard = (m.hard || m.suspect || woke) && ev == refusedEvidence && confirming
	m.suspect = woke && ev == resetEvidence && confirming
	next, spacing := m.next(start, end, m.hard || m.suspect)
	m.schedule(next, spacing)
	for _, sub := range m.subs {
		sub.fn(m.update(r, changed, false))
	}
	m.mu.Unlock()
	// A round woken by the watch does not re-open it: the next scheduled
	// round does, so a server that drops idle connections quickly costs at
	// most one extra round per interval.
	if m.spec.Watch && r.OK && !woke {
		m.arm()
	}
	return next
}

// next returns when the round after one that started at start and ended at
// end is due, and the spacing of the confirmation rounds after it, if the
// tracker has just observed that round (hard: a failure with hard evidence
// is being confirmed, see HardEvidenceSpacing).
//
//   - Settled state: Interval with jitter, start to start.
//   - Confirming a failure (UP, failures under way): FastInterval, start to
//     start, so a round that waited out its timeout is followed at once; or
//     HardEvidenceSpacing with hard evidence.
//   - Confirming a recovery (DOWN, successes under way): FastInterval after
//     the round ended, so that recovery is evidence over time. A target that
//     resumes after a hang while a round waits for it passes that round as
//     it resumes; its next Rise-1 rounds then run at least FastInterval
//     apart, and it is UP no sooner than (Rise-1) × FastInterval after it
//     resumed, however long the waiting round was.
func (m *Monitor) next(start, end time.Time, hard bool) (due time.Time, spacing time.Duration) {
	fast := m.spec.FastInterval
	switch {
	case !m.tracker.Pending():
		return start.Add(jitter(m.spec.Interval)), fast
	case m.tracker.State() == Down:
		return end.Add(fast), fast
	case hard:
		return start.Add(HardEvidenceSpacing), HardEvidenceSpacing
	}
	return start.Add(fast), fast
}

// operation bounds one network operation of the monitor (a round's
// probes, opening the watch) by timeout; Release cuts it short. Pass cancel
// to endOperation when the operation ended. A monitor runs one operation
// at a time.
func (m *Monitor) operation(timeout time.Duration) (context.Context, context.CancelFunc) {
	// Not derived from a context of the monitor's own: a cancellable parent
	// would keep a map of its children and a channel for every target.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if m.stopping {
		cancel()
	}
	m.opCancel = cancel
	return ctx, cancel
}

func (m *Monitor) endOperation(cancel context.CancelFunc) {
	m.opMu.Lock()
	m.opCancel = nil
	m.opMu.Unlock()
	cancel()
}

// stop cuts short the operation under way, and every later one.
func (m *Monitor) stop() {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.stopping = true
	if m.opCancel != nil {
		m.opCancel()
	}
}

func (m *Monitor) stopped() bool {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	return m.stopping
}

// probe runs every check once, concurrently, and combines their results;
// rtt is the round's round-trip time sample (see roundRTT), and ev what a
// failed round says of the target's process (see HardEvidenceSpacing).
func (m *Monitor) probe() (r Result, rtt time.Duration, ev evidence) {
	ctx, cancel := m.operation(m.spec.Timeout)
	defer m.endOperation(cancel)
	checks := m.spec.Checks
	if len(checks) == 1 {
		r := checks[0].Probe(ctx, m.spec.Addr, m.spec.Port)
		return r, roundRTT([]Result{r}), evidenceOf(checks[0], r)
	}
	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { results[i] = c.Probe(ctx, m.spec.Addr, m.spec.Port) })
	}
	wg.Wait()
	r = combine(results, m.spec.Require)
	if r.OK {
		return r, roundRTT(results), noEvidence
	}
	ev = refusedEvidence
	tcp := 0
	for i, c := range checks {
		if c.watchable() {
			tcp++
			ev = min(ev, evidenceOf(c, results[i]))
		}
	}
	if tcp == 0 {
		ev = noEvidence
	}
	return r, roundRTT(results), ev
}

// evidence is what a failed round says of the target's process, from the
// weakest to the strongest.
type evidence int

const (
	noEvidence      evidence = iota
	resetEvidence            // every TCP-based check refused or reset
	refusedEvidence          // every TCP-based check refused: nothing listens
)

// evidenceOf grades a result of check c. A refused connection is the
// kernel's word that nothing listens. A reset is weaker: it comes when a
// dying process's listener drops a connection it had not accepted yet,
// but also from a proxy failing a request, a symptom rather than proof.
func evidenceOf(c *Check, r Result) evidence {
	switch {
	case !c.watchable() || r.OK:
		return noEvidence
	case r.Reason == ReasonRefused:
		return refusedEvidence
	case r.Reason == ReasonReset:
		return resetEvidence
	}
	return noEvidence
}

// combine passes when at least require results passed (0: all). A failure
// carries the reason, check, address and detail of the first failed check
// in configuration order; a success those of the first passed check, without
// a reason or detail.
func combine(results []Result, require int) Result {
	if require == 0 {
		require = len(results)
	}
	var firstOK, firstFailed *Result
	passed := 0
	var longest time.Duration
	for i, r := range results {
		longest = max(longest, r.Duration)
		switch {
		case r.OK:
			passed++
			if firstOK == nil {
				firstOK = &results[i]
			}
		case firstFailed == nil:
			firstFailed = &results[i]
		}
	}
	out := Result{OK: true}
	switch {
	case passed < require:
		out = *firstFailed
	case firstOK != nil:
		out.Check, out.Addr = firstOK.Check, firstOK.Addr
	}
	out.Duration = longest
	return out
}

func startDelay(interval time.Duration) time.Duration {
	return rand.N(min(interval, MaxStartSpread) + 1)
}

func jitter(interval time.Duration) time.Duration {
	spread := interval / 20
	return interval - spread + rand.N(2*spread+1)
}
