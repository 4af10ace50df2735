package failover

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/failover-dns/failover/health"
)

// fakeClock is a clock that moves only when a test says so.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// advance moves the clock and runs the timers due by then, in order.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.stopped && !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	slices.SortFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, t := range due {
		t.f()
	}
}

// testConfig is a pool of IPv4 targets 192.0.2.1, .2, ... with the given priorities.
func testConfig(priorities ...int) *poolConfig {
	c := &poolConfig{names: []string{"www.example.org."}, zones: []string{"example.org."}, ttl: 30, fall: 3, rise: 2}
	for i, prio := range priorities {
		addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
		c.targets = append(c.targets, target{addr: addr, ip: net.IP(addr.AsSlice()), label: addr.String(), priority: prio, weight: 1, region: -1})
	}
	c.finish()
	return c
}

func addrs(a *answer) []string {
	var out []string
	for _, ip := range a.ips {
		out = append(out, ip.String())
	}
	return out
}

func states(hs ...health.State) []targetState {
	out := make([]targetState, len(hs))
	for i, h := range hs {
		out[i] = targetState{health: h, passed: h == health.Up}
	}
	return out
}

// TestChooseHoldDown: a recovered primary waits out the failback hold-down,
// and choose says when that ends, so that no timer needs guessing.
func TestChooseHoldDown(t *testing.T) {
	c := testConfig(1, 2)
	c.failback = time.Minute
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := states(health.Up, health.Up)
	st[0].recovered, st[0].since = true, now.Add(-20*time.Second)

	a, until := choose(c, st, v4, now, nil)
	if got := addrs(a); !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Errorf("During the hold-down: %v, want the backup", got)
	}
	if want := now.Add(40 * time.Second); !until.Equal(want) {
		t.Errorf("Hold-down ends at %v, want %v", until, want)
	}
	a, until = choose(c, st, v4, now.Add(40*time.Second), nil)
	if got := addrs(a); !slices.Equal(got, []string{"192.0.2.1"}) || !until.IsZero() {
		t.Errorf("After the hold-down: %v until %v, want the primary for good", got, until)
	}
	st[0].forced = overrideUp
	if a, _ := choose(c, st, v4, now, nil); !slices.Equal(addrs(a), []string{"192.0.2.1"}) {
		t.Errorf("Forced up during the hold-down: %v, want the primary", addrs(a))
	}
	c.manual = true
	st[0].forced = overrideNone
	if a, until := choose(c, st, v4, now.Add(time.Hour), nil); !slices.Equal(addrs(a), []string{"192.0.2.2"}) || !until.IsZero() {
		t.Errorf("failback manual: %v until %v, want the backup with no end", addrs(a), until)
	}
	st[1].health = health.Down
	if a, _ := choose(c, st, v4, now, nil); !slices.Equal(addrs(a), []string{"192.0.2.1"}) || a.result != resultHealthy {
		t.Errorf("Nothing else up: %v (result %d), want the held primary", addrs(a), a.result)
	}
}

// TestChooseStartupDownNeverServesUnprobed: with 'startup down', best_tier
// and all answer SERVFAIL until a target of the family passed a probe;
// afterwards they fail open as usual.
func TestChooseStartupDownNeverServesUnprobed(t *testing.T) {
	for _, mode := range []allDownPolicy{allDownBestTier, allDownAll} {
		c := testConfig(1, 2)
		c.startDown, c.allDown = true, mode
		for _, st := range [][]targetState{states(health.Unknown, health.Unknown), states(health.Down, health.Unknown), states(health.Down, health.Down)} {
			if a, _ := choose(c, st, v4, time.Now(), nil); a.result != resultServfail {
				t.Errorf("all_down %s, states %v: result %d with %v, want SERVFAIL", mode, st, a.result, addrs(a))
			}
		}
		st := states(health.Down, health.Down)
		st[1].passed = true // it was up once
		if a, _ := choose(c, st, v4, time.Now(), nil); a.result != resultFailOpen || len(a.ips) == 0 {
			t.Errorf("all_down %s after a target passed: result %d with %v, want to fail open", mode, a.result, addrs(a))
		}
	}
	c := testConfig(1)
	c.allDown = allDownBestTier // startup up: a dead target fails open as before
	if a, _ := choose(c, states(health.Down), v4, time.Now(), nil); a.result != resultFailOpen {
		t.Errorf("startup up: result %d, want fail open", a.result)
	}
}

// TestChooseEveryTargetDrained: with every target drained no target is
// up, so all_down decides: fallback answers its addresses, servfail
// SERVFAIL, nodata NODATA; best_tier and all, which may answer only targets
// that are not drained, have nothing to answer and give NODATA.
func TestChooseEveryTargetDrained(t *testing.T) {
	fallback := net.ParseIP("192.0.2.99").To4()
	for _, tc := range []struct {
		mode       allDownPolicy
		startDown  bool
		wantResult int
		wantIPs    []string
	}{
		{allDownFallback, false, resultFailOpen, []string{"192.0.2.99"}},
		{allDownFallback, true, resultFailOpen, []string{"192.0.2.99"}},
		{allDownServfail, false, resultServfail, nil},
		{allDownNodata, false, resultNodata, nil},
		{allDownBestTier, false, resultNodata, nil},
		{allDownAll, false, resultNodata, nil},
		{allDownBestTier, true, resultNodata, nil},
	} {
		c := testConfig(1, 2)
		c.allDown, c.startDown = tc.mode, tc.startDown
		c.fallback[v4] = []net.IP{fallback}
		st := states(health.Up, health.Down)
		st[0].forced, st[1].forced = overrideDrain, overrideDrain
		a, _ := choose(c, st, v4, time.Now(), nil)
		if a.result != tc.wantResult || !slices.Equal(addrs(a), tc.wantIPs) {
			t.Errorf("all_down %s (startup down %v), every target drained: result %d with %v, want result %d with %v",
				tc.mode, tc.startDown, a.result, addrs(a), tc.wantResult, tc.wantIPs)
		}
	}
}

// TestPoolRepublishesWhenHoldEnds: publish sets a timer on the injected
// clock for the end of the hold-down, and the answer moves back then.
func TestPoolRepublishesWhenHoldEnds(t *testing.T) {
	c := testConfig(1, 2)
	c.failback = time.Minute
	clk := newFakeClock()
	p := newPool(c, nil, clk)
	dropSeries(t, p)
	start := clk.Now()
	p.observe(0, health.Update{State: health.Up, Since: start, Changed: true})
	p.observe(1, health.Update{State: health.Up, Since: start, Changed: true})
	p.observe(0, health.Update{State: health.Down, Since: start, Changed: true})
	if got := addrs(p.answers[v4].Load()); !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Fatalf("Primary down: %v", got)
	}
	clk.advance(10 * time.Second)
	p.observe(0, health.Update{State: health.Up, Since: clk.Now(), Recovered: true, Changed: true})
	if got := addrs(p.answers[v4].Load()); !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Fatalf("Primary recovered, on hold: %v, want the backup", got)
	}
	clk.advance(59 * time.Second)
	if got := addrs(p.answers[v4].Load()); !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Fatalf("1s before the hold-down ends: %v, want the backup", got)
	}
	clk.advance(time.Second)
	if got := addrs(p.answers[v4].Load()); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("Hold-down over: %v, want the primary", got)
	}
}

// TestRegionalAnswersHoldDown: a region's recovered target also waits out
// the failback hold-down before its region's clients get it back.
func TestRegionalAnswersHoldDown(t *testing.T) {
	c := testConfig(1, 1)
	c.regions = []*region{{name: "eu"}}
	c.targets[0].region = 0
	c.failback = time.Minute
	now := time.Now()
	st := states(health.Up, health.Up)
	st[0].recovered, st[0].since = true, now
	if a, until := chooseRegional(c, st, v4, 0, now, nil); a != nil || !until.Equal(now.Add(time.Minute)) {
		t.Errorf("Region's only target on hold: %v until %v, want no regional answer until the hold ends", a, until)
	}
	if a, _ := chooseRegional(c, st, v4, 0, now.Add(time.Minute), nil); a == nil || !slices.Equal(addrs(a), []string{"192.0.2.1"}) {
		t.Errorf("After the hold-down: %v, want the region's target", a)
	}
}

// TestClampTTL: the adaptive TTL rounds down, so that it never outlives the
// moment the answer could change; MAX caps it and MIN is the floor.
func TestClampTTL(t *testing.T) {
	c := &poolConfig{adaptiveMin: 2, adaptiveMax: 30}
	for _, tc := range []struct {
		until time.Duration
		want  uint32
	}{
		{10*time.Second + 900*time.Millisecond, 10},
		{3 * time.Second, 3},
		{1900 * time.Millisecond, 2}, // MIN wins
		{-time.Second, 2},            // a change already due
		{time.Hour, 30},
	} {
		if got := c.clampTTL(tc.until); got != tc.want {
			t.Errorf("%s until a change: TTL %d, want %d", tc.until, got, tc.want)
		}
	}
}

// TestPoolAdaptiveTTLUntilHoldEnds: a failback hold-down that ends before
// any probe could change the answer bounds the TTL.
func TestPoolAdaptiveTTLUntilHoldEnds(t *testing.T) {
	c := testConfig(1, 2)
	c.failback, c.adaptiveMin, c.adaptiveMax = time.Minute, 0, 300
	clk := newFakeClock()
	p := newPool(c, nil, clk)
	dropSeries(t, p)
	p.observe(1, health.Update{State: health.Up, Since: clk.Now(), Changed: true})
	p.observe(0, health.Update{State: health.Up, Since: clk.Now(), Recovered: true, Changed: true})
	clk.advance(15 * time.Second)
	if got := p.adaptiveTTL(clk.Now()); got != 45 {
		t.Errorf("TTL %d, want 45: the hold-down ends in 45s", got)
	}
}

// dropSeries removes the metric series a test pool's observe made, so that
// they do not show in other tests' scrapes.
func dropSeries(t *testing.T, p *pool) {
	t.Cleanup(func() {
		acquireSeries(p)
		releaseSeries(p)
	})
}
