package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// connCounter counts the connections a loopback TCP server accepted, and
// those still open: probes open and close one each, the watch keeps one.
type connCounter struct {
	ln             net.Listener
	port           string
	accepted, open atomic.Int64
}

func serveCounting(t *testing.T) *connCounter {
	t.Helper()
	cc := &connCounter{}
	cc.ln, cc.port = serveTCP(t, func(c net.Conn) {
		cc.accepted.Add(1)
		cc.open.Add(1)
		defer cc.open.Add(-1)
		io.Copy(io.Discard, c)
	})
	return cc
}

// tcpSpec probes port on loopback every interval, with the watch on.
func tcpSpec(t *testing.T, port string, interval time.Duration) Spec {
	t.Helper()
	c, err := NewCheck(CheckConfig{URL: "tcp://www.example.org:" + port, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Addr: loopback, Checks: []*Check{c}, Watch: true,
		Interval: interval, FastInterval: interval, Timeout: time.Second, Rise: 1, Fall: 1}
}

// waitIntervals waits until a monitor of its own, probing every interval,
// has run n rounds: the scheduler ran rounds for about n intervals. A test
// that expects nothing to happen waits for that rather than a fixed time.
func waitIntervals(t *testing.T, n int, interval time.Duration) {
	t.Helper()
	cc := serveCounting(t)
	spec := tcpSpec(t, cc.port, interval)
	spec.Watch = false
	m := Acquire(spec)
	defer m.Release()
	waitFor(t, firstVerdict+time.Duration(3*n)*interval, fmt.Sprintf("%d rounds of a witness monitor", n),
		func() bool { return cc.accepted.Load() >= int64(n) })
}

// idle reports whether the scheduler holds m nowhere: neither in its heap
// nor in its ready queue, nor running.
func idle(m *Monitor) bool {
	s := m.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	return m.where == monitorIdle && !slices.Contains(s.waiting, m) && !slices.Contains(s.ready[s.head:], m)
}

// waiting reports whether m is in the scheduler's heap.
func waiting(m *Monitor) bool {
	m.sched.mu.Lock()
	defer m.sched.mu.Unlock()
	return m.where == monitorWaiting
}

func demandOf(m *Monitor) int {
	m.sched.mu.Lock()
	defer m.sched.mu.Unlock()
	return m.demand
}

// waitUpdate waits for a probe round's update (not a replay) after the
// first from updates of rec, and returns it.
func waitUpdate(t *testing.T, rec *recorder, from int, limit time.Duration) Update {
	t.Helper()
	var found Update
	waitFor(t, limit, "a probe round's update", func() bool {
		u := rec.snapshot()
		i := slices.IndexFunc(u[min(from, len(u)):], func(u Update) bool { return !u.Replay })
		if i >= 0 {
			found = u[from+i]
		}
		return i >= 0
	})
	return found
}

// TestStandbyOnlyIsIdle: a monitor that only standby references hold
// sends nothing and takes no place in the scheduler.
func TestStandbyOnlyIsIdle(t *testing.T) {
	const interval = 20 * time.Millisecond
	cc := serveCounting(t)
	sb := AcquireStandby(tcpSpec(t, cc.port, interval))
	defer sb.Release()
	m := sb.Monitor()
	rec := &recorder{}
	defer m.Subscribe(rec.add)()
	if !idle(m) {
		t.Fatal("A monitor with standby references only is scheduled")
	}
	if !m.NextProbe().IsZero() || !m.EarliestChange().IsZero() {
		t.Errorf("Idle monitor: NextProbe %s, EarliestChange %s; want zero times", m.NextProbe(), m.EarliestChange())
	}
	waitIntervals(t, 10, interval)
	if n := cc.accepted.Load(); n != 0 {
		t.Errorf("%d connections to a target that no reference asks to probe, want 0", n)
	}
	if u := rec.snapshot(); len(u) != 0 {
		t.Errorf("An idle monitor sent updates: %+v", u)
	}
}

// TestStandbySetProbing: probing starts, stops (the watch connection
// closes with it) and starts afresh as the standby reference says.
func TestStandbySetProbing(t *testing.T) {
	const interval = 20 * time.Millisecond
	cc := serveCounting(t)
	sb := AcquireStandby(tcpSpec(t, cc.port, interval))
	defer sb.Release()
	m := sb.Monitor()
	rec := &recorder{}
	defer m.Subscribe(rec.add)()

	sb.SetProbing(true)
	sb.SetProbing(true)
	if n := demandOf(m); n != 1 {
		t.Errorf("SetProbing(true) twice: demand %d, want 1", n)
	}
	if u := waitUpdate(t, rec, 0, firstVerdict); !u.Changed || u.State != Up {
		t.Fatalf("First round after SetProbing(true): %+v, want a first verdict UP with Changed", u)
	}
	waitWatching(t, m)
	if m.NextProbe().IsZero() {
		t.Error("NextProbe is zero while probing")
	}

	sb.SetProbing(false)
	if waiting(m) {
		t.Error("The monitor is still in the scheduler's heap after SetProbing(false)")
	}
	waitFor(t, 5*time.Second, "the monitor idle and its watch connection closed", func() bool {
		return idle(m) && !m.watching.Load() && cc.open.Load() == 0
	})
	accepted, updates := cc.accepted.Load(), len(rec.snapshot())
	waitIntervals(t, 10, interval)
	if n := cc.accepted.Load() - accepted; n != 0 {
		t.Errorf("%d connections after SetProbing(false), want 0", n)
	}
	if u := rec.snapshot()[updates:]; len(u) != 0 {
		t.Errorf("Updates after SetProbing(false): %+v", u)
	}
	if !m.NextProbe().IsZero() {
		t.Errorf("NextProbe %s while idle, want the zero time", m.NextProbe())
	}

	resumed := time.Now()
	sb.SetProbing(true)
	if u := waitUpdate(t, rec, updates, firstVerdict); !u.Changed || u.State != Up || u.Since.Before(resumed) {
		t.Errorf("First round after probing resumed: %+v, want a fresh first verdict UP with Changed, Since after %s", u, resumed)
	}
	waitFor(t, 5*time.Second, "probes again", func() bool { return cc.accepted.Load() > accepted+3 })
}

// heldProber returns, for each probe, the result the test feeds it, and
// counts the probes that started: the test knows when a round is under way.
type heldProber struct {
	started atomic.Int64
	results chan Result
}

func (p *heldProber) Probe(ctx context.Context, _ netip.AddrPort) Result {
	p.started.Add(1)
	select {
	case r := <-p.results:
		return r
	case <-ctx.Done():
		return Result{Reason: ReasonTimeout}
	}
}

func (p *heldProber) Close() {}

// TestStandbyResumeStartsAfresh: a round under way when probing stops
// still delivers its update; the idle monitor keeps its state; resuming
// forgets it (no replay, a first verdict with Changed) but keeps the RTT
// and Passed, and schedules the first round as a new monitor's.
func TestStandbyResumeStartsAfresh(t *testing.T) {
	const interval = 10 * time.Millisecond
	p := &heldProber{results: make(chan Result)}
	sb := AcquireStandby(Spec{Addr: loopback, Checks: []*Check{fakeCheck(p, t.Name())},
		Interval: interval, FastInterval: interval, Timeout: time.Hour, Rise: 2, Fall: 2})
	defer sb.Release()
	m := sb.Monitor()
	rec := &recorder{}
	defer m.Subscribe(rec.add)()
	feed := func(r Result) Update {
		t.Helper()
		n := len(rec.snapshot())
		select {
		case p.results <- r:
		case <-time.After(5 * time.Second):
			t.Fatal("No probe round started within 5s")
		}
		return waitUpdate(t, rec, n, 5*time.Second)
	}
	passed := Result{OK: true, RTT: 3 * time.Millisecond}
	failed := Result{Reason: ReasonRefused, Detail: "fed a failure"}

	sb.SetProbing(true)
	if u := feed(passed); u.State != Up || !u.Changed {
		t.Fatalf("First verdict: %+v, want UP with Changed", u)
	}
	feed(failed) // UP, one failure of two
	waitFor(t, 5*time.Second, "the third round under way", func() bool { return p.started.Load() == 3 })
	sb.SetProbing(false)
	if !m.NextProbe().IsZero() {
		t.Errorf("NextProbe %s after SetProbing(false), want the zero time", m.NextProbe())
	}
	if u := feed(passed); u.State != Up || u.Changed {
		t.Errorf("The round under way as probing stopped: %+v, want its update, UP without Changed", u)
	}
	waitFor(t, 5*time.Second, "the monitor idle", func() bool { return idle(m) })
	late := &recorder{}
	m.Subscribe(late.add)()
	if u := late.snapshot(); len(u) != 1 || !u[0].Replay || u[0].State != Up {
		t.Errorf("A new subscriber of the idle monitor heard %+v, want the last state (UP) as a replay", u)
	}

	rtt, resumed := m.RTT(), time.Now()
	sb.SetProbing(true)
	if next := m.NextProbe(); next.Before(resumed) || next.After(time.Now().Add(interval)) {
		t.Errorf("First round after resuming due %s after it, want within the start spread (%s)", next.Sub(resumed), interval)
	}
	if !m.EarliestChange().Equal(m.NextProbe()) {
		t.Errorf("EarliestChange %s after NextProbe, want equal: the first round gives a verdict", m.EarliestChange().Sub(m.NextProbe()))
	}
	fresh := &recorder{}
	defer m.Subscribe(fresh.add)()
	if u := fresh.snapshot(); len(u) != 0 {
		t.Errorf("A new subscriber heard %+v before the first round after resuming, want nothing: the state is unknown", u)
	}
	u := feed(failed)
	want := Update{Result: u.Result, State: Down, Since: u.Since, Passed: true, Changed: true, RTT: rtt}
	if u != want || u.Since.Before(resumed) {
		t.Errorf("First round after resuming: %+v, want %+v with Since after %s", u, want, resumed)
	}
	if f := fresh.snapshot(); len(f) != 1 || f[0] != u {
		t.Errorf("The new subscriber heard %+v, want the first verdict", f)
	}
}

// TestStandbyBesidePlainReference: a plain reference to the same spec
// keeps the monitor probing whatever the standby says; once it is released
// the monitor goes idle.
func TestStandbyBesidePlainReference(t *testing.T) {
	const interval = 20 * time.Millisecond
	cc := serveCounting(t)
	spec := tcpSpec(t, cc.port, interval)
	sb := AcquireStandby(spec)
	defer sb.Release()
	m := Acquire(spec)
	if sb.Monitor() != m {
		t.Fatal("Acquire and AcquireStandby of one spec return different monitors")
	}
	rec := &recorder{}
	defer m.Subscribe(rec.add)()
	rec.waitState(t, Up, firstVerdict)
	sb.SetProbing(true)
	sb.SetProbing(false)
	accepted := cc.accepted.Load()
	waitFor(t, 5*time.Second, "probing beside a standby that does not ask for it", func() bool {
		return cc.accepted.Load() >= accepted+5
	})
	if m.NextProbe().IsZero() {
		t.Error("NextProbe is zero while a plain reference asks for probing")
	}
	m.Release()
	if waiting(m) {
		t.Error("The monitor is still in the scheduler's heap after its plain reference was released")
	}
	waitFor(t, 5*time.Second, "the monitor idle and its watch connection closed once the plain reference is released", func() bool {
		return idle(m) && !m.watching.Load() && cc.open.Load() == 0
	})
}

// TestStandbyReleaseLeavesNothing: releasing every reference, in any
// state, stops everything the monitors started.
func TestStandbyReleaseLeavesNothing(t *testing.T) {
	cc := serveCounting(t)
	ignore := goleak.IgnoreCurrent()
	before := Running()
	spec := tcpSpec(t, cc.port, 20*time.Millisecond)
	never := AcquireStandby(tcpSpec(t, cc.port, 30*time.Millisecond))
	on := AcquireStandby(spec)
	on.SetProbing(true)
	plain := Acquire(spec)
	off := AcquireStandby(spec)
	off.SetProbing(true)
	off.SetProbing(false)
	rec := &recorder{}
	unsub := plain.Subscribe(rec.add)
	rec.waitState(t, Up, firstVerdict)
	waitWatching(t, plain)
	unsub()

	on.Release()
	plain.Release()
	off.Release()
	never.Release()
	on.Release() // a second release does nothing
	on.SetProbing(true)
	if n := Running() - before; n != 0 {
		t.Errorf("%d monitors still run after every release", n)
	}
	if n := engine.watched.Load(); n != 0 {
		t.Errorf("%d watch slots still taken after every release", n)
	}
	waitFor(t, 5*time.Second, "the server to see every connection closed", func() bool { return cc.open.Load() == 0 })
	if err := goleak.Find(ignore); err != nil {
		t.Error(err)
	}
}

// TestStandbyConcurrentToggling: references asking and ceasing to ask for
// probing from many goroutines while rounds run, from subscribers too, and
// with a lock held that a subscriber takes (SetProbing must not wait for
// the monitor's lock, which subscribers run under). Run with -race.
func TestStandbyConcurrentToggling(t *testing.T) {
	p := &fakeProber{}
	spec := Spec{Addr: loopback, Checks: []*Check{fakeCheck(p, t.Name())},
		Interval: time.Millisecond, FastInterval: time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1}
	standbys := make([]*Standby, 4)
	for i := range standbys {
		standbys[i] = AcquireStandby(spec)
		defer standbys[i].Release()
	}
	m := standbys[0].Monitor()
	var poolLock sync.Mutex // a pool's lock: its subscriber takes it, and it calls SetProbing holding it
	var heard atomic.Int64
	unsub := m.Subscribe(func(Update) {
		poolLock.Lock()
		defer poolLock.Unlock()
		standbys[3].SetProbing(heard.Add(1)%2 == 0)
	})

	var wg sync.WaitGroup
	deadline := time.Now().Add(20 * time.Second) // bounds the toggling on a machine too loaded to run rounds
	for i := range 3 {
		wg.Go(func() {
			for j := 0; j < 200 || (p.probes.Load() < 200 && time.Now().Before(deadline)); j++ {
				poolLock.Lock()
				standbys[i].SetProbing(j%2 == i%2)
				poolLock.Unlock()
				m.NextProbe()
				m.EarliestChange()
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			Acquire(spec).Release()
		}
	})
	wg.Go(func() {
		for range 200 {
			m.Subscribe(func(Update) {})()
		}
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Toggling did not end within a minute: deadlock")
	}
	unsub()
	for _, sb := range standbys {
		sb.SetProbing(false)
	}
	waitFor(t, 5*time.Second, "the monitor idle once no reference asks for probing", func() bool { return idle(m) })
	if n := demandOf(m); n != 0 {
		t.Errorf("Demand %d once every reference stopped asking, want 0", n)
	}
	t.Logf("%d rounds ran while toggling", p.probes.Load())
	if n := p.probes.Load(); n < 200 {
		t.Errorf("Only %d rounds ran while toggling, too few to test anything", n)
	}
}
