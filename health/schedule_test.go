package health

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestJitter: rounds of a settled target start Interval ± 5 % apart, spread
// over the whole band rather than at a few values, so that targets
// configured together drift apart.
func TestJitter(t *testing.T) {
	const interval = time.Second
	lo, hi := interval*95/100, interval*105/100
	var below, above int
	seen := map[time.Duration]bool{}
	for range 10000 {
		d := jitter(interval)
		if d < lo || d > hi {
			t.Fatalf("jitter(%s) = %s, outside %s..%s", interval, d, lo, hi)
		}
		if d < interval {
			below++
		} else {
			above++
		}
		seen[d] = true
	}
	if below < 4500 || above < 4500 || len(seen) < 9000 {
		t.Errorf("10,000 jittered intervals: %d below, %d above, %d distinct: want both halves about even and nearly all distinct", below, above, len(seen))
	}
}

// TestStartSpread: first rounds spread uniformly over min(Interval,
// MaxStartSpread): never as one burst, and never later than that.
func TestStartSpread(t *testing.T) {
	for _, interval := range []time.Duration{200 * time.Millisecond, 5 * time.Second, time.Minute} {
		window := min(interval, MaxStartSpread)
		var quarters [4]int
		for range 10000 {
			d := startDelay(interval)
			if d < 0 || d > window {
				t.Fatalf("startDelay(%s) = %s, outside 0..%s", interval, d, window)
			}
			quarters[min(int(4*d/window), 3)]++
		}
		for q, n := range quarters {
			if n < 2200 || n > 2800 {
				t.Errorf("interval %s: %d of 10,000 first rounds in quarter %d of %s, want about 2,500 in each", interval, n, q+1, window)
			}
		}
	}
}

// stampProber passes after a fixed delay and records when each probe started.
type stampProber struct {
	delay  time.Duration
	mu     sync.Mutex
	starts []time.Time
}

func (p *stampProber) Probe(ctx context.Context, _ netip.AddrPort) Result {
	p.mu.Lock()
	p.starts = append(p.starts, time.Now())
	p.mu.Unlock()
	select {
	case <-time.After(p.delay):
		return Result{OK: true, Duration: p.delay}
	case <-ctx.Done():
		return Result{Reason: ReasonTimeout, Detail: "waited out"}
	}
}

func (p *stampProber) Close() {}

func (p *stampProber) gaps() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(p.starts); i++ {
		out = append(out, p.starts[i].Sub(p.starts[i-1]))
	}
	return out
}

// TestRoundsStartToStart: a settled target's rounds start Interval (with
// jitter) apart, start to start: a round that takes a while does not push
// the next one back by its duration.
func TestRoundsStartToStart(t *testing.T) {
	const interval, took = 100 * time.Millisecond, 40 * time.Millisecond
	p := &stampProber{delay: took}
	acquire(t, Spec{Addr: loopback, Checks: []*Check{fakeCheck(p, t.Name())},
		Interval: interval, FastInterval: interval, Timeout: time.Second, Rise: 1, Fall: 1})
	waitFor(t, firstVerdict+5*time.Second, "21 rounds", func() bool { return len(p.gaps()) >= 20 })
	gaps := p.gaps()[:20]
	var sum time.Duration
	for _, g := range gaps {
		sum += g
	}
	// Each round is due a jittered interval (at least 95 ms) after the
	// previous one started, and never starts before it is due. The prober
	// stamps a round a moment after it started, and on a loaded machine that
	// moment varies, so one gap can look short (a late stamp, then a prompt
	// one); over 20 rounds only the first stamp's delay remains.
	if least := time.Duration(len(gaps))*interval*95/100 - 50*time.Millisecond; sum < least {
		t.Errorf("20 rounds started within %s (%v), want at least %s: a round started before it was due", sum, gaps, least)
	}
	// Start to start: the mean is the interval, not interval + 40 ms (a loose
	// bound: a loaded machine starts rounds late, never early).
	if mean := sum / time.Duration(len(gaps)); mean > interval+took/2 {
		t.Errorf("Rounds started %s apart on average (%v), want about %s: the interval is start to start", mean, gaps, interval)
	}
}

// TestSlowTargetsDoNotDelayOthers: a thousand targets whose probes all
// wait out their timeout (2 s, always one round under way) hold workers,
// but only until their timeout, and the other targets' rounds keep their
// schedule: they never wait for a hung round's worker.
func TestSlowTargetsDoNotDelayOthers(t *testing.T) {
	for i := range 1000 {
		hung := &stampProber{delay: time.Hour}
		acquire(t, Spec{Addr: loopback, Checks: []*Check{fakeCheck(hung, fmt.Sprintf("%s hung %d", t.Name(), i))},
			Interval: time.Second, FastInterval: time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 2})
	}
	const interval = 100 * time.Millisecond
	var fast []*stampProber
	var recs []*recorder
	for i := range 10 {
		p := &stampProber{delay: time.Millisecond}
		_, rec := acquire(t, Spec{Addr: loopback, Checks: []*Check{fakeCheck(p, fmt.Sprintf("%s fast %d", t.Name(), i))},
			Interval: interval, FastInterval: interval, Timeout: time.Second, Rise: 1, Fall: 1})
		fast, recs = append(fast, p), append(recs, rec)
	}
	waitFor(t, firstVerdict+10*time.Second, "30 rounds of every fast target", func() bool {
		return !slices.ContainsFunc(fast, func(p *stampProber) bool { return len(p.gaps()) < 30 })
	})
	for i, p := range fast {
		gaps := p.gaps()
		// Loose: a round 250 ms late on a loaded 2-core machine with the race
		// detector is noise; waiting for a hung probe's worker would be 2 s.
		if worst := slices.Max(gaps); worst > interval*105/100+250*time.Millisecond {
			t.Errorf("Fast target %d: rounds up to %s apart at interval %s beside 1,000 hung targets", i, worst, interval)
		}
		for _, u := range recs[i].snapshot() {
			if u.State != Up {
				t.Fatalf("Fast target %d went %s beside the hung targets: %+v", i, u.State, u.Result)
			}
		}
	}
}

// BenchmarkEngineRound measures what the engine adds to each probe round
// (scheduling, the round's context, state and subscribers), with a probe
// that passes at once: allocations per round and rounds a second through
// one monitor whose rounds are always due.
func BenchmarkEngineRound(b *testing.B) {
	p := &fakeProber{}
	m := Acquire(Spec{Addr: loopback, Checks: []*Check{fakeCheck(p, b.Name())},
		Interval: time.Microsecond, FastInterval: time.Microsecond, Timeout: time.Second, Rise: 1, Fall: 1})
	defer m.Release()
	for p.probes.Load() < 10 {
		time.Sleep(time.Millisecond)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n0 := p.probes.Load()
	time.Sleep(time.Second)
	runtime.ReadMemStats(&after)
	n := p.probes.Load() - n0
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n), "allocs/round")
	b.ReportMetric(float64(n), "rounds/s")
}
