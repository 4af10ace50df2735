package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/wait"
)

// firstVerdict bounds the wait for a new monitor's first verdict: its
// first round comes within MaxStartSpread, and a loaded machine may take
// a while more.
const firstVerdict = MaxStartSpread + 5*time.Second

// recorder collects a monitor's updates.
type recorder struct {
	mu      sync.Mutex
	updates []Update
}

func (r *recorder) add(u Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, u)
}

func (r *recorder) snapshot() []Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Update(nil), r.updates...)
}

func (r *recorder) waitState(t *testing.T, want State, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if u := r.snapshot(); len(u) > 0 && u[len(u)-1].State == want {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("State %s not reached within %s", want, limit)
	return 0
}

func httpCheck(t *testing.T, port string, timeout time.Duration) *Check {
	t.Helper()
	c, err := NewCheck(CheckConfig{URL: "http://www.example.org:" + port + "/", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func acquire(t *testing.T, spec Spec) (*Monitor, *recorder) {
	t.Helper()
	m := Acquire(spec)
	rec := &recorder{}
	unsub := m.Subscribe(rec.add)
	t.Cleanup(func() { unsub(); m.Release() })
	return m, rec
}

func TestMonitorAlternatingNeverFlaps(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := portOfAddr(t, srv.Listener.Addr().String())
	_, rec := acquire(t, Spec{
		Addr: loopback, Checks: []*Check{httpCheck(t, port, 200*time.Millisecond)},
		Interval: 30 * time.Millisecond, FastInterval: 30 * time.Millisecond, Timeout: 200 * time.Millisecond, Rise: 2, Fall: 2,
	})
	deadline := time.Now().Add(20 * time.Second)
	for len(rec.snapshot()) < 40 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	changes, fails := 0, 0
	for _, u := range rec.snapshot() {
		if u.Changed {
			changes++
		}
		if !u.Result.OK {
			fails++
		}
	}
	if len(rec.snapshot()) < 40 || fails < 15 {
		t.Fatalf("Too few probes (%d, %d failed) to judge", len(rec.snapshot()), fails)
	}
	if changes != 1 {
		t.Errorf("A target failing every other probe changed state %d times after its first verdict, want 0", changes-1)
	}
}

func TestMonitorShared(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := portOfAddr(t, srv.Listener.Addr().String())
	spec := func() Spec {
		// Separate but identical checks, as two pools would configure them.
		return Spec{Addr: loopback, Checks: []*Check{httpCheck(t, port, 50*time.Millisecond)},
			Interval: 100 * time.Millisecond, FastInterval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, Rise: 1, Fall: 1}
	}
	before := Running()
	a, recA := acquire(t, spec())
	b, recB := acquire(t, spec())
	if a != b || Running() != before+1 {
		t.Fatalf("Identical specs should share one monitor: %p %p, running %d", a, b, Running()-before)
	}
	recA.waitState(t, Up, firstVerdict)
	recB.waitState(t, Up, firstVerdict)
	start, h0 := time.Now(), hits.Load()
	time.Sleep(time.Second)
	rounds := float64(time.Since(start)) / float64(100*time.Millisecond)
	if got := float64(hits.Load() - h0); got > 1.3*rounds || got < 0.5*rounds {
		t.Errorf("Backend saw %v requests in %.0f intervals: want one per interval for two subscribers", got, rounds)
	}
}

func TestMonitorWatchDetectsClosedConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	port := portOfAddr(t, srv.Listener.Addr().String())
	m, rec := acquire(t, Spec{
		Addr: loopback, Checks: []*Check{httpCheck(t, port, 100*time.Millisecond)}, Watch: true,
		Interval: 5 * time.Second, FastInterval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond, Rise: 2, Fall: 3,
	})
	rec.waitState(t, Up, firstVerdict)
	waitWatching(t, m)
	srv.Close() // closes the listener and every connection, the watched one included
	d := rec.waitState(t, Down, 4*time.Second)
	t.Logf("Closed connection noticed: DOWN after %s (interval 5s, fast_interval 100ms, fall 3)", d.Round(time.Millisecond))
}

// waitWatching waits until m holds its watch connection.
func waitWatching(t *testing.T, m *Monitor) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !m.watching.Load() {
		if time.Now().After(deadline) {
			t.Fatal("No watch connection was opened")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMonitorFastConfirmation(t *testing.T) {
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := portOfAddr(t, srv.Listener.Addr().String())
	const interval, fast = 2 * time.Second, 150 * time.Millisecond
	_, rec := acquire(t, Spec{
		Addr: loopback, Checks: []*Check{httpCheck(t, port, 100*time.Millisecond)},
		Interval: interval, FastInterval: fast, Timeout: 100 * time.Millisecond, Rise: 2, Fall: 3,
	})
	rec.waitState(t, Up, firstVerdict)
	fail.Store(true)
	d := rec.waitState(t, Down, interval+100*time.Millisecond+2*fast+3*time.Second)
	t.Logf("Failing target DOWN after %s (bound without fast confirmation: %s)", d.Round(time.Millisecond), 3*interval)
	// Steady state at interval: failures after DOWN do not speed probing up.
	n := len(rec.snapshot())
	time.Sleep(interval / 2)
	if extra := len(rec.snapshot()) - n; extra > 1 {
		t.Errorf("%d probes in half an interval after the state settled: DOWN targets are probed at interval", extra)
	}
}

func TestCombine(t *testing.T) {
	ok := Result{OK: true, Check: "tcp://a.example.org:1", Addr: netip.MustParseAddrPort("127.0.0.1:1")}
	bad := Result{Reason: ReasonRefused, Check: "tcp://b.example.org:2", Addr: netip.MustParseAddrPort("127.0.0.1:2"), Detail: "connect: connection refused"}
	bad2 := Result{Reason: ReasonTimeout, Check: "tcp://c.example.org:3", Detail: "timed out after 1s"}
	for _, tc := range []struct {
		results []Result
		require int
		want    Result
	}{
		{[]Result{ok, ok}, 0, ok},
		{[]Result{ok, bad}, 0, bad},
		{[]Result{ok, bad}, 1, ok},
		{[]Result{bad, bad2, ok}, 2, bad},
		{[]Result{ok, bad2, bad}, 2, bad2},
		{[]Result{bad, ok, ok}, 2, ok},
	} {
		for i := range tc.results {
			tc.results[i].Duration = time.Duration(i+1) * time.Millisecond
		}
		tc.want.Duration = time.Duration(len(tc.results)) * time.Millisecond // the longest
		if r := combine(tc.results, tc.require); r != tc.want {
			t.Errorf("combine(%v, %d) = %+v, want %+v", tc.results, tc.require, r, tc.want)
		}
	}
}

// TestMonitorWatchNoStorm: a server that closes idle connections at once
// costs at most one extra round per interval, not a probe loop.
func TestMonitorWatchNoStorm(t *testing.T) {
	_, port := serveTCP(t, closeAtOnce)
	c, err := NewCheck(CheckConfig{URL: "tcp://www.example.org:" + port, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const interval = 200 * time.Millisecond
	_, rec := acquire(t, Spec{Addr: loopback, Checks: []*Check{c}, Watch: true,
		Interval: interval, FastInterval: interval, Timeout: 100 * time.Millisecond, Rise: 1, Fall: 1})
	rec.waitState(t, Up, firstVerdict)
	n0, start := len(rec.snapshot()), time.Now()
	time.Sleep(2 * time.Second)
	rounds := len(rec.snapshot()) - n0
	if limit := 2*int(time.Since(start)/interval) + 2; rounds > limit {
		t.Errorf("%d probe rounds in %s at interval %s: the watch must add at most one per interval (limit %d)", rounds, time.Since(start).Round(time.Millisecond), interval, limit)
	}
}

// fakeProber passes every probe and records its own closing, and any probe
// made after it.
type fakeProber struct {
	probes, closes, afterClose atomic.Int64
}

func (f *fakeProber) Probe(context.Context, netip.AddrPort) Result {
	f.probes.Add(1)
	if f.closes.Load() > 0 {
		f.afterClose.Add(1)
	}
	return Result{OK: true}
}

func (f *fakeProber) Close() { f.closes.Add(1) }

// fakeCheck wraps a prober in a check whose key is name.
func fakeCheck(p Prober, name string) *Check {
	return &Check{scheme: "tcp", prober: p, port: 9, key: name}
}

// waitFor polls cond until it holds or the limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	wait.For(t, limit, 2*time.Millisecond, what, cond)
}

// TestMonitorsOwnChecks: one pool's check serves the monitors of all its
// targets. Releasing one monitor must not close the check another still
// probes with; the last release closes it. A check handed to Acquire when
// an equal monitor already runs is not adopted: never probed, never closed.
func TestMonitorsOwnChecks(t *testing.T) {
	shared, spare := &fakeProber{}, &fakeProber{}
	spec := func(addr string, c *Check) Spec {
		return Spec{Addr: netip.MustParseAddr(addr), Checks: []*Check{c}, Interval: 10 * time.Millisecond,
			FastInterval: 10 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1}
	}
	c := fakeCheck(shared, t.Name())
	a := Acquire(spec("127.0.0.1", c))
	b := Acquire(spec("127.0.0.2", c))
	// An equal spec from another configuration, with its own equal check.
	b2 := Acquire(spec("127.0.0.2", fakeCheck(spare, t.Name())))
	if b2 != b {
		t.Fatal("Equal specs should share one monitor")
	}
	a.Release()
	if n := shared.closes.Load(); n != 0 {
		t.Fatalf("Check closed %d times after releasing one of the two monitors using it", n)
	}
	n := shared.probes.Load()
	waitFor(t, 5*time.Second, "the remaining monitor to probe", func() bool { return shared.probes.Load() > n+2 })
	b.Release()
	if n := shared.closes.Load(); n != 0 {
		t.Fatalf("Check closed %d times while a reference to its monitor remains", n)
	}
	b2.Release()
	if n := shared.closes.Load(); n != 1 {
		t.Errorf("Check closed %d times after the last release, want 1", n)
	}
	if n := shared.afterClose.Load(); n != 0 {
		t.Errorf("%d probes ran after the check was closed", n)
	}
	if p, c := spare.probes.Load(), spare.closes.Load(); p != 0 || c != 0 {
		t.Errorf("The check not adopted by the running monitor was probed %d times and closed %d times, want 0 and 0", p, c)
	}
}

// gatedProber returns, for each probe, the result the test feeds it; a
// probe waits for it. The test thus decides every round's outcome and
// duration, and the monitor's schedule stays still between the rounds it
// lets finish.
type gatedProber struct{ results chan Result }

func (g *gatedProber) Probe(ctx context.Context, _ netip.AddrPort) Result {
	select {
	case r := <-g.results:
		return r
	case <-ctx.Done():
		return Result{Reason: ReasonTimeout}
	}
}

func (g *gatedProber) Close() {}

// gated starts a monitor whose rounds pass or fail as step says. step
// returns the round's update once every subscriber heard it.
func gated(t *testing.T, rise, fall int, interval, fast time.Duration) (m *Monitor, rec *recorder, step func(ok bool) Update) {
	t.Helper()
	m, rec, feed := gatedResults(t, rise, fall, interval, fast)
	step = func(ok bool) Update {
		t.Helper()
		if ok {
			return feed(Result{OK: true})
		}
		return feed(Result{Reason: ReasonRefused, Detail: "fed a failure"})
	}
	return m, rec, step
}

// gatedResults starts a monitor whose rounds return the results feed gives
// them. feed returns the round's update once every subscriber heard it.
func gatedResults(t *testing.T, rise, fall int, interval, fast time.Duration) (m *Monitor, rec *recorder, feed func(Result) Update) {
	t.Helper()
	g := &gatedProber{results: make(chan Result)}
	m, rec = acquire(t, Spec{Addr: loopback, Checks: []*Check{fakeCheck(g, t.Name())},
		Interval: interval, FastInterval: fast, Timeout: time.Hour, Rise: rise, Fall: fall})
	feed = func(r Result) Update {
		t.Helper()
		n := len(rec.snapshot())
		select {
		case g.results <- r:
		case <-time.After(5 * time.Second):
			t.Fatal("No probe round started within 5s")
		}
		waitFor(t, 5*time.Second, "the round's update", func() bool { return len(rec.snapshot()) > n })
		u := rec.snapshot()
		return u[len(u)-1]
	}
	return m, rec, feed
}

// TestMonitorEarliestChange: the earliest possible change is the next
// round plus the fast rounds still needed to confirm a change, counting the
// streak under way.
func TestMonitorEarliestChange(t *testing.T) {
	const fast = 7 * time.Millisecond
	m, _, step := gated(t, 3, 4, 20*time.Millisecond, fast)
	check := func(what string, rounds int) {
		t.Helper()
		want := m.NextProbe().Add(time.Duration(rounds) * fast)
		if got := m.EarliestChange(); !got.Equal(want) {
			t.Errorf("%s: EarliestChange() is %s after the next round, want %s (%d fast rounds)",
				what, got.Sub(m.NextProbe()), time.Duration(rounds)*fast, rounds)
		}
	}
	if m.NextProbe().IsZero() || m.NextProbe().Before(time.Now().Add(-time.Minute)) {
		t.Fatalf("NextProbe() = %s before the first round: not scheduled", m.NextProbe())
	}
	check("No verdict yet", 0)
	for _, st := range []struct {
		what   string
		ok     bool
		state  State
		rounds int
	}{
		{"First verdict UP (fall 4)", true, Up, 3},
		{"UP, 1 failure of 4", false, Up, 2},
		{"UP, 2 failures of 4", false, Up, 1},
		{"UP, streak broken", true, Up, 3},
		{"UP, 1 failure of 4 again", false, Up, 2},
		{"UP, 2 failures of 4", false, Up, 1},
		{"UP, 3 failures of 4", false, Up, 0},
		{"DOWN (rise 3)", false, Down, 2},
		{"DOWN, 1 success of 3", true, Down, 1},
		{"DOWN, 2 successes of 3", true, Down, 0},
		{"UP again", true, Up, 3},
	} {
		predicted := m.EarliestChange()
		u := step(st.ok)
		if u.State != st.state {
			t.Fatalf("%s: state %s, want %s", st.what, u.State, st.state)
		}
		if now := time.Now(); u.Changed && now.Before(predicted) {
			t.Errorf("%s: the state changed %s before the predicted earliest change", st.what, predicted.Sub(now))
		}
		check(st.what, st.rounds)
	}
}

// TestMonitorEndHold: an operator's 'up' ends a recovered target's
// hold-down for every subscriber, without a probe.
func TestMonitorEndHold(t *testing.T) {
	m, rec, step := gated(t, 1, 1, 10*time.Millisecond, 10*time.Millisecond)
	other := &recorder{} // a second pool sharing the monitor
	defer m.Subscribe(other.add)()
	endHold := func() {
		m.EndHold()
		m.holds.Wait()
	}

	step(true)
	n := len(rec.snapshot())
	endHold()
	if len(rec.snapshot()) != n {
		t.Errorf("EndHold on a target that never went DOWN sent %+v, want nothing", rec.snapshot()[n:])
	}
	step(false)
	up := step(true)
	if !up.Recovered {
		t.Fatalf("UP after DOWN: got %+v, want Recovered", up)
	}
	endHold()
	want := Update{Result: up.Result, State: Up, Since: up.Since, Passed: true, Changed: true, Replay: true, RTT: up.RTT}
	for name, r := range map[string]*recorder{"first": rec, "second": other} {
		if u := r.snapshot(); u[len(u)-1] != want {
			t.Errorf("After EndHold the %s subscriber heard %+v, want %+v", name, u[len(u)-1], want)
		}
	}
	n = len(rec.snapshot())
	endHold()
	if len(rec.snapshot()) != n {
		t.Errorf("A second EndHold sent %+v, want nothing", rec.snapshot()[n:])
	}
	late := &recorder{} // the next configuration after a reload
	defer m.Subscribe(late.add)()
	if u := late.snapshot(); len(u) != 1 || !u[0].Replay || u[0].Recovered {
		t.Errorf("A new subscriber's replay after EndHold: %+v, want one Replay with Recovered false", u)
	}
	if u := step(true); u.Recovered {
		t.Errorf("A round after EndHold: %+v, want Recovered false", u)
	}
	step(false)
	if u := step(true); !u.Recovered {
		t.Errorf("DOWN then UP after EndHold: %+v, want Recovered again", u)
	}
}

// TestMonitorEndHoldFromSubscriber: a pool whose operator pinned a target
// UP ends the hold-down as soon as it hears Recovered, from inside its
// subscriber, with the monitor's lock held: that must not deadlock.
func TestMonitorEndHoldFromSubscriber(t *testing.T) {
	m, rec, step := gated(t, 1, 1, 10*time.Millisecond, 10*time.Millisecond)
	defer m.Subscribe(func(u Update) {
		if u.Recovered {
			m.EndHold()
		}
	})()
	step(true)
	step(false)
	step(true)
	waitFor(t, 5*time.Second, "the hold-down to end", func() bool {
		u := rec.snapshot()
		return u[len(u)-1].Replay && !u[len(u)-1].Recovered
	})
}

// TestMonitorWatchTalkativeTarget: a target that sends more than
// maxWatchBytes on its watched connection. The watch gives up on that
// connection without waking a round (the target did not go away), and it
// must then release the connection's watch place, so that the next
// scheduled round watches the target again, rather than keep the place
// for a connection that is closed and never watch the target again. A
// budget of one place shows that the place is released.
func TestMonitorWatchTalkativeTarget(t *testing.T) {
	watchBudgetOverride.Store(1)
	defer watchBudgetOverride.Store(0)
	var flooded, endless atomic.Int64
	_, port := serveTCP(t, func(c net.Conn) {
		// A probe connects and resets at once; the watched connection stays.
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		// Loopback's socket buffers take megabytes before the watch has
		// read its share: only a watch that keeps reading for seconds
		// never gives up.
		c.SetWriteDeadline(time.Now().Add(3 * time.Second))
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < 1<<30; sent += len(chunk) {
			if _, err := c.Write(chunk); errors.Is(err, os.ErrDeadlineExceeded) {
				break
			} else if err != nil {
				flooded.Add(1)
				return
			}
		}
		endless.Add(1)
	})
	c, err := NewCheck(CheckConfig{URL: "tcp://www.example.org:" + port, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, rec := acquire(t, Spec{Addr: loopback, Checks: []*Check{c}, Watch: true,
		Interval: 300 * time.Millisecond, FastInterval: 300 * time.Millisecond, Timeout: 100 * time.Millisecond, Rise: 1, Fall: 1})
	rec.waitState(t, Up, firstVerdict)
	waitFor(t, 10*time.Second, "three watched connections flooded and given up (a target re-watched after each)", func() bool { return flooded.Load() >= 3 })
	if n := endless.Load(); n > 0 {
		t.Errorf("%d watched connections kept being read for 3s", n)
	}
	for _, u := range rec.snapshot() {
		if !u.Result.OK {
			t.Errorf("A talkative target's round failed (%+v): giving up a watch is no sign of failure", u.Result)
		}
	}
}
