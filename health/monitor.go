package health

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// maxStartDelay bounds the random delay before a target's first probe: long
// enough to spread many targets' first probes, short enough that every
// target has a verdict soon after start-up.
const maxStartDelay = 500 * time.Millisecond

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
	// crashed process is noticed in about Fall × FastInterval.
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

// Update is what a subscriber hears after each probe round.
type Update struct {
	Result  Result
	State   State
	Changed bool
	// Replay marks the current state handed to a new subscriber: no new probe ran.
	Replay bool
}

// Monitor probes one target address with a set of checks and keeps its
// state with a Tracker.
type Monitor struct {
	spec   Spec
	key    string
	refs   int // guarded by registry
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{} // a watched connection closed: probe now

	watchers sync.WaitGroup
	watching map[netip.AddrPort]bool // guarded by mu

	mu      sync.Mutex // guards below; held while subscribers are called
	tracker *Tracker
	last    Result
	subs    map[uint64]func(Update)
	nextID  uint64
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
func Acquire(spec Spec) *Monitor {
	registry.Lock()
	defer registry.Unlock()
	k := spec.key()
	if m := registry.monitors[k]; m != nil {
		m.refs++
		return m
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Monitor{
		spec:     spec,
		key:      k,
		refs:     1,
		cancel:   cancel,
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		watching: map[netip.AddrPort]bool{},
		tracker:  NewTracker(spec.Rise, spec.Fall),
		subs:     map[uint64]func(Update){},
	}
	registry.monitors[k] = m
	go m.run(ctx)
	return m
}

// Release drops one reference; the last one stops the monitor and waits
// for its goroutine to end.
func (m *Monitor) Release() {
	registry.Lock()
	m.refs--
	last := m.refs == 0
	if last {
		delete(registry.monitors, m.key)
	}
	registry.Unlock()
	if last {
		m.cancel()
		<-m.done
	}
}

// Running returns how many monitors run: one per distinct target spec.
func Running() int {
	registry.Lock()
	defer registry.Unlock()
	return len(registry.monitors)
}

// Subscribe calls fn after every probe round until the returned function
// is called. If the target already has a state, fn first gets it as a
// Replay. fn runs on the monitor's goroutine and must not block for long.
func (m *Monitor) Subscribe(fn func(Update)) (unsubscribe func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextID
	m.nextID++
	m.subs[id] = fn
	if s := m.tracker.State(); s != Unknown {
		fn(Update{Result: m.last, State: s, Changed: true, Replay: true})
	}
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs, id)
	}
}

// run probes until ctx is cancelled. The first round starts after a short
// random delay; later rounds start every Interval (start to start) with
// ±5 % jitter so that targets configured together do not stay in
// lock-step, every FastInterval while a change is being confirmed, and at
// once when a watched connection closes.
func (m *Monitor) run(ctx context.Context) {
	defer close(m.done)
	defer m.watchers.Wait()
	delay := startDelay(m.spec.Interval)
	due := time.Now().Add(delay)
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			probeLateness.Observe(time.Since(due).Seconds())
		case <-m.wake:
			timer.Stop()
		}
		start := time.Now()
		if m.spec.Watch {
			m.arm(ctx)
		}
		r := m.probe(ctx)
		if ctx.Err() != nil {
			return // cut short by shutdown: not a verdict on the target
		}
		m.mu.Lock()
		s, changed := m.tracker.Observe(r.OK)
		m.last = r
		for _, fn := range m.subs {
			fn(Update{Result: r, State: s, Changed: changed})
		}
		next := jitter(m.spec.Interval)
		if m.tracker.Pending() {
			next = m.spec.FastInterval
		}
		m.mu.Unlock()
		due = start.Add(next)
		timer.Reset(time.Until(due))
	}
}

// maxWatchBytes bounds what a watched connection may receive (a banner, say)
// before the watch gives up on it.
const maxWatchBytes = 64 << 10

// arm opens a watch connection to every TCP-based check's port that has
// none. A watch wakes the monitor once when its connection ends; the next
// round opens a new one, so watches cost at most one extra round per round.
func (m *Monitor) arm(ctx context.Context) {
	for _, c := range m.spec.Checks {
		if !c.watchable() {
			continue
		}
		dst := netip.AddrPortFrom(m.spec.Addr, cmp.Or(m.spec.Port, c.port))
		m.mu.Lock()
		busy := m.watching[dst]
		m.watching[dst] = true
		m.mu.Unlock()
		if !busy {
			m.watchers.Go(func() { m.watch(ctx, dst) })
		}
	}
}

func (m *Monitor) watch(ctx context.Context, dst netip.AddrPort) {
	defer func() {
		m.mu.Lock()
		delete(m.watching, dst)
		m.mu.Unlock()
	}()
	dialer := net.Dialer{Timeout: m.spec.Timeout}
	conn, err := dialer.DialContext(ctx, "tcp", dst.String())
	if err != nil {
		return // the probe of this round sees the same failure
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	buf := make([]byte, 512)
	for total := 0; total < maxWatchBytes; {
		n, err := conn.Read(buf)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				select {
				case m.wake <- struct{}{}:
				default:
				}
			}
			return
		}
	}
}

// probe runs every check once, concurrently, and combines their results.
func (m *Monitor) probe(ctx context.Context) Result {
	ctx, cancel := context.WithTimeout(ctx, m.spec.Timeout)
	defer cancel()
	checks := m.spec.Checks
	if len(checks) == 1 {
		return checks[0].Probe(ctx, m.spec.Addr, m.spec.Port)
	}
	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { results[i] = c.Probe(ctx, m.spec.Addr, m.spec.Port) })
	}
	wg.Wait()
	return combine(results, m.spec.Require)
}

// combine passes when at least require results passed (0: all). A failure
// carries the reason of the first failed check in configuration order.
func combine(results []Result, require int) Result {
	if require == 0 {
		require = len(results)
	}
	var out Result
	passed := 0
	for _, r := range results {
		out.Duration = max(out.Duration, r.Duration)
		if r.OK {
			passed++
		} else if out.Reason == "" {
			out.Reason = r.Reason
		}
	}
	out.OK = passed >= require
	if out.OK {
		out.Reason = ""
	}
	return out
}

func startDelay(interval time.Duration) time.Duration {
	return rand.N(min(interval/2, maxStartDelay) + 1)
}

func jitter(interval time.Duration) time.Duration {
	spread := interval / 20
	return interval - spread + rand.N(2*spread+1)
}
