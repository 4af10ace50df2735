package failover

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/events"
	"github.com/failover-dns/failover/health"
)

const ms = time.Millisecond

func TestFastestMarginBeats(t *testing.T) {
	m := defaultMargin // 20 %, 5ms
	for _, tc := range []struct {
		rtt, than time.Duration
		want      bool
	}{
		{10 * ms, 50 * ms, true},
		{40 * ms, 50 * ms, true},   // 10ms and exactly 20 %
		{41 * ms, 50 * ms, false},  // 18 %
		{1 * ms, 5 * ms, false},    // 80 % but only 4ms
		{95 * ms, 100 * ms, false}, // 5ms but only 5 %
		{10 * ms, 10 * ms, false},
		{20 * ms, 10 * ms, false},
		{0, 10 * ms, false}, // no RTT yet beats nobody
		{10 * ms, 0, true},  // and loses to anybody
	} {
		if got := m.beats(tc.rtt, tc.than); got != tc.want {
			t.Errorf("%s beats %s: %v, want %v", tc.rtt, tc.than, got, tc.want)
		}
	}
}

// fastestPool is a started-looking pool of three same-tier targets under
// policy fastest, driven by hand with probe rounds and a fake clock.
type fastestPool struct {
	t *testing.T
	*pool
	clk *fakeClock
}

func newFastestPool(t *testing.T, edit func(c *poolConfig)) *fastestPool {
	c := testConfig(1, 1, 1)
	c.policy, c.margin, c.timeout = policyFastest, defaultMargin, time.Second
	if edit != nil {
		edit(c)
	}
	clk := newFakeClock()
	p := newPool(c, nil, clk)
	dropSeries(t, p)
	for i := range c.targets {
		p.observe(i, health.Update{State: health.Up, Since: clk.Now(), Changed: true})
	}
	return &fastestPool{t: t, pool: p, clk: clk}
}

// round reports a passed probe round of target i after which its smoothed
// RTT is rtt.
func (f *fastestPool) round(i int, rtt time.Duration) {
	f.clk.advance(time.Second)
	f.observe(i, health.Update{Result: health.Result{OK: true, Duration: rtt}, State: health.Up, RTT: rtt})
}

// rounds reports one round of each target, with the RTTs given in order.
func (f *fastestPool) rounds(rtts ...time.Duration) {
	for i, rtt := range rtts {
		f.round(i, rtt)
	}
}

func (f *fastestPool) answer() []string { return addrs(f.answers[v4].Load()) }

func (f *fastestPool) want(when string, want ...string) {
	f.t.Helper()
	if got := f.answer(); !slices.Equal(got, want) {
		f.t.Fatalf("%s: answer %v, want %v", when, got, want)
	}
}

// TestFastestHysteresis: the answer moves to a faster target only after it
// beat the answered one by the margin in 3 of its own rounds in a row; a
// round within the margin starts the count again.
func TestFastestHysteresis(t *testing.T) {
	f := newFastestPool(t, nil)
	f.want("Before any RTT", "192.0.2.1")
	f.rounds(50*ms, 60*ms, 70*ms)
	f.want("First RTTs, .1 fastest", "192.0.2.1")

	f.rounds(50*ms, 10*ms, 70*ms)
	f.rounds(50*ms, 10*ms, 70*ms)
	f.want(".2 faster for 2 rounds", "192.0.2.1")
	f.round(1, 45*ms) // within the margin: the count starts again
	f.rounds(50*ms, 10*ms, 70*ms)
	f.rounds(50*ms, 10*ms, 70*ms)
	f.want(".2 faster for 2 rounds after a round within the margin", "192.0.2.1")
	for range 5 {
		f.round(0, 50*ms) // the answered target's rounds do not count for .2
	}
	f.want(".2 faster, only .1 probed", "192.0.2.1")
	f.round(1, 10*ms)
	f.want(".2 faster for 3 rounds", "192.0.2.2")

	f.rounds(12*ms, 10*ms, 70*ms)
	f.rounds(12*ms, 10*ms, 70*ms)
	f.rounds(12*ms, 10*ms, 70*ms)
	f.want(".1 back, but within 5ms", "192.0.2.2")
}

// TestFastestVacancyFilledAtOnce: when the answered target goes down, the
// fastest other one takes over without waiting, and a slow target stays a
// candidate (slow is not down).
func TestFastestVacancyFilledAtOnce(t *testing.T) {
	f := newFastestPool(t, nil)
	f.rounds(10*ms, 300*ms, 80*ms)
	f.observe(0, health.Update{State: health.Down, Since: f.clk.Now(), Changed: true})
	f.want("Answered target down", "192.0.2.3")
	f.observe(2, health.Update{State: health.Down, Since: f.clk.Now(), Changed: true})
	f.want("Only the slowest left", "192.0.2.2")
	f.observe(0, health.Update{State: health.Up, Since: f.clk.Now(), Recovered: true, Changed: true})
	f.want(".1 back: it must win its place again", "192.0.2.2")
	f.rounds(10*ms, 300*ms)
	f.rounds(10*ms, 300*ms)
	f.rounds(10*ms, 300*ms)
	f.want(".1 faster for 3 rounds", "192.0.2.1")
}

// TestFastestMaxAnswers: max_answers 2 answers the two fastest, fastest
// first, and a challenger replaces the slower of them.
func TestFastestMaxAnswers(t *testing.T) {
	f := newFastestPool(t, func(c *poolConfig) { c.maxAnswers = 2 })
	f.rounds(30*ms, 20*ms, 90*ms)
	f.want("First RTTs", "192.0.2.2", "192.0.2.1")
	for range 3 {
		f.rounds(30*ms, 20*ms, 5*ms)
	}
	f.want(".3 fastest for 3 rounds", "192.0.2.3", "192.0.2.2")
}

// TestFastestFailedRoundsDoNotCount: a challenger's failed round (its
// smoothed RTT unchanged) does not count toward its streak, and ends it.
func TestFastestFailedRoundsDoNotCount(t *testing.T) {
	f := newFastestPool(t, nil)
	f.rounds(50*ms, 60*ms, 70*ms)
	f.rounds(50*ms, 10*ms, 70*ms)
	f.rounds(50*ms, 10*ms, 70*ms)
	fail := health.Update{Result: health.Result{Reason: health.ReasonTimeout}, State: health.Up, RTT: 10 * ms}
	f.observe(1, fail)
	f.observe(1, fail)
	f.want(".2 faster for 2 rounds, then failing", "192.0.2.1")
	f.rounds(50*ms, 10*ms, 70*ms)
	f.rounds(50*ms, 10*ms, 70*ms)
	f.want(".2 faster for 2 rounds since its failure", "192.0.2.1")
	f.round(1, 10*ms)
	f.want(".2 faster for 3 rounds since its failure", "192.0.2.2")
}

// TestFastestOrderStable: with max_answers 2, two answered targets whose
// RTTs trade places by a hair keep their order in the answer.
func TestFastestOrderStable(t *testing.T) {
	f := newFastestPool(t, func(c *poolConfig) { c.maxAnswers = 2 })
	f.rounds(20*ms, 21*ms, 90*ms)
	f.want("First RTTs", "192.0.2.1", "192.0.2.2")
	for range 10 {
		f.rounds(21*ms, 20*ms, 90*ms)
		f.want(".2 a hair faster", "192.0.2.1", "192.0.2.2")
		f.rounds(20*ms, 21*ms, 90*ms)
	}
}

// TestSlowNeedsAnRTT: a target inherited as slow by a reload whose monitor
// starts afresh (no RTT yet) is not slow any more.
func TestSlowNeedsAnRTT(t *testing.T) {
	f := newFastestPool(t, func(c *poolConfig) { c.policy, c.slowRTT = policyPriority, 50*ms })
	f.rounds(60*ms, 20*ms, 20*ms)
	f.want(".1 slow", "192.0.2.2", "192.0.2.3")
	c := testConfig(1, 1, 1)
	c.slowRTT = 50 * ms
	p := newPool(c, nil, f.clk)
	dropSeries(t, p)
	p.inherit(f.pool)
	p.observe(0, health.Update{State: health.Unknown, Replay: true})
	if p.states[0].slow {
		t.Errorf("Target .1 without an RTT after the reload is still slow")
	}
}

// TestFastestNoiseNeverAlternates: two targets with the same mean RTT and
// independent noise keep one answer over thousands of rounds, however the
// noise falls; real steps between them still move it.
func TestFastestNoiseNeverAlternates(t *testing.T) {
	f := newFastestPool(t, func(c *poolConfig) { c.targets = c.targets[:2]; c.finish() })
	rng := rand.New(rand.NewPCG(1, 2))
	srtt := [2]time.Duration{}
	noisy := func(i int) time.Duration { // ±20 % around 40ms, smoothed like a monitor
		sample := 32*ms + time.Duration(rng.Int64N(int64(16*ms)))
		if srtt[i] == 0 {
			srtt[i] = sample
		} else {
			srtt[i] += time.Duration(health.RTTFactor * float64(sample-srtt[i]))
		}
		return srtt[i]
	}
	first := ""
	for n := range 5000 {
		f.rounds(noisy(0), noisy(1))
		if first == "" {
			first = f.answer()[0]
		}
		if got := f.answer()[0]; got != first {
			t.Fatalf("Round %d: the answer moved from %s to %s between two targets of the same mean RTT", n, first, got)
		}
	}
}

// TestSlowTargetsLeaveAnswers: a target whose smoothed RTT goes over
// slow_rtt leaves the answers (under any policy) while another UP target
// of its tier is there, returns when it is alone, and stops being slow only
// below 80 % of slow_rtt.
func TestSlowTargetsLeaveAnswers(t *testing.T) {
	f := newFastestPool(t, func(c *poolConfig) {
		c.policy, c.slowRTT = policyPriority, 50*ms
		c.targets = c.targets[:2]
		c.finish()
	})
	from := eventLog.Last()
	f.rounds(10*ms, 20*ms)
	f.want("Both fast", "192.0.2.1", "192.0.2.2")
	f.round(0, 60*ms)
	f.want(".1 slow", "192.0.2.2")
	if !f.states[0].slow || !strings.Contains(f.steering(0), "over slow_rtt 50ms") {
		t.Errorf("Status of a slow target: slow %v, steering %q", f.states[0].slow, f.steering(0))
	}
	f.round(0, 45*ms)
	f.want(".1 at 45ms: still slow (above 40ms)", "192.0.2.2")
	f.observe(1, health.Update{State: health.Down, Since: f.clk.Now(), Changed: true})
	f.want(".2 down: the slow target is all there is", "192.0.2.1")
	if f.degraded(f.states) != true || f.answers[v4].Load().result != resultHealthy {
		t.Errorf("A slow target counts as UP: degraded (from .2) and a healthy answer expected")
	}
	f.observe(1, health.Update{State: health.Up, Since: f.clk.Now(), Changed: true})
	f.want(".2 up again", "192.0.2.2")
	f.round(0, 39*ms)
	f.want(".1 below 80 % of slow_rtt", "192.0.2.1", "192.0.2.2")

	var types []string
	evs, _ := eventLog.Since(from, 100)
	for _, e := range evs {
		if e.Pool == f.name && strings.HasPrefix(e.Type, "slow_") {
			types = append(types, e.Type)
		}
	}
	if want := []string{events.TypeSlowStarted, events.TypeSlowEnded}; !slices.Equal(types, want) {
		t.Errorf("Events %v, want %v", types, want)
	}
}

// TestFastestWithSlowRTT: under policy fastest a slow target is still
// marked slow, and a slow answered target gives way at once to a target
// that is not slow.
func TestFastestWithSlowRTT(t *testing.T) {
	f := newFastestPool(t, func(c *poolConfig) { c.slowRTT = 50 * ms })
	f.rounds(20*ms, 30*ms, 40*ms)
	f.want("All fast, .1 fastest", "192.0.2.1")
	f.round(0, 60*ms)
	if !f.states[0].slow {
		t.Fatalf("Target .1 at 60ms with slow_rtt 50ms is not slow")
	}
	f.want(".1 slow: the fastest of the others at once", "192.0.2.2")
}

// TestFastestRegions: within a region, the fastest of the region's best
// tier; the global answer has its own memory.
func TestFastestRegions(t *testing.T) {
	f := newFastestPool(t, func(c *poolConfig) {
		c.regions = []*region{{name: "eu"}}
		c.targets[1].region, c.targets[2].region = 0, 0
	})
	f.rounds(5*ms, 40*ms, 40*ms)
	for range 3 {
		f.rounds(5*ms, 40*ms, 10*ms)
	}
	if got := addrs(f.regional[v4][0].Load()); !slices.Equal(got, []string{"192.0.2.3"}) {
		t.Errorf("Region eu: %v, want its fastest target 192.0.2.3", got)
	}
	f.want("All clients", "192.0.2.1")
}

// TestFastestSurvivesReload: a new configuration keeps answering the
// target the old one had moved to, instead of starting from the first.
func TestFastestSurvivesReload(t *testing.T) {
	f := newFastestPool(t, nil)
	f.rounds(50*ms, 10*ms, 70*ms)
	for range 3 {
		f.rounds(50*ms, 10*ms, 70*ms)
	}
	f.want("Before the reload", "192.0.2.2")
	c := testConfig(1, 1, 1)
	c.policy, c.margin = policyFastest, defaultMargin
	p := newPool(c, nil, f.clk)
	dropSeries(t, p)
	p.inherit(f.pool)
	for i, rtt := range []time.Duration{50 * ms, 10 * ms, 70 * ms} {
		p.observe(i, health.Update{State: health.Up, Since: f.clk.Now(), Changed: true, Replay: true, RTT: rtt})
		if got := addrs(p.answers[v4].Load()); !slices.Equal(got, []string{"192.0.2.2"}) {
			t.Fatalf("After the reload, state of target %d handed over: %v, want 192.0.2.2", i, got)
		}
	}
}

// TestFastestInAFleet: in a fleet, only the RTTs the probers publish steer
// (so every replica, prober or not, decides on the same figures): this
// replica's own probe rounds carry the published RTT and count for
// nothing until it changes, and a published RTT that beats the answered
// target by the margin moves the answer at once, whether it came from
// another member or from this one as the best-ranked prober (the prober
// held it back until it had moved, at most every 30 s).
func TestFastestInAFleet(t *testing.T) {
	f := newFastestPool(t, nil)
	shared := func(i int, rtt time.Duration, remote bool) {
		f.clk.advance(time.Second)
		f.observe(i, health.Update{Result: health.Result{OK: true, Duration: rtt}, State: health.Up, RTT: rtt, Shared: true, Remote: remote})
	}
	for i, rtt := range []time.Duration{50 * ms, 60 * ms, 70 * ms} {
		shared(i, rtt, true)
	}
	f.want("Published RTTs, .1 fastest", "192.0.2.1")
	for range 5 {
		shared(1, 60*ms, false) // this replica's own rounds as a prober carry the published RTT
	}
	f.want("This replica's own rounds, RTT unchanged", "192.0.2.1")
	shared(1, 44*ms, true)
	f.want(".2 published within the margin", "192.0.2.1")
	shared(1, 10*ms, false) // published by this replica, the best-ranked prober
	f.want(".2 published faster by the margin", "192.0.2.2")
	shared(0, 11*ms, true)
	f.want(".1 published back, but within 5ms", "192.0.2.2")
	f.observe(1, health.Update{Result: health.Result{Reason: "refused"}, State: health.Down, Changed: true, Shared: true, Remote: true})
	f.want(".2 down by the fleet", "192.0.2.1")
}
