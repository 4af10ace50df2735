package health

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"
)

// holdingListener accepts TCP connections on 127.0.0.1 and holds them open,
// as a service does with the watch connection, until stop: then it refuses
// new connections (the listener is closed first) and closes the ones it
// holds, as the kernel does when the service's process dies. restart
// listens again on the same port.
type holdingListener struct {
	t     *testing.T
	port  uint16
	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func listenHolding(t *testing.T) *holdingListener {
	t.Helper()
	h := &holdingListener{t: t}
	if err := h.listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.stop)
	return h
}

func (h *holdingListener) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.ln = ln
	h.port = netip.MustParseAddrPort(ln.Addr().String()).Port()
	h.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	return nil
}

// restart listens on the port again; it may run on the monitor's goroutine
// (in a subscriber), so it reports errors instead of ending the test.
func (h *holdingListener) restart() {
	if err := h.listen(netip.AddrPortFrom(loopback, h.port).String()); err != nil {
		h.t.Errorf("Listening again on port %d: %v", h.port, err)
	}
}

func (h *holdingListener) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ln.Close()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}

// stamped is one update and the monitor's predictions right after it.
type stamped struct {
	u              Update
	next, earliest time.Time
}

// predictions records every update of m with NextProbe and EarliestChange
// as they stood when subscribers heard it.
func predictions(t *testing.T, m *Monitor) func() []stamped {
	var mu sync.Mutex
	var out []stamped
	t.Cleanup(m.Subscribe(func(u Update) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, stamped{u, m.NextProbe(), m.EarliestChange()})
	}))
	return func() []stamped {
		mu.Lock()
		defer mu.Unlock()
		return append([]stamped(nil), out...)
	}
}

// checkEarliest fails the test if a state change came before the earliest
// change predicted after the update that preceded it.
func checkEarliest(t *testing.T, seen []stamped) {
	t.Helper()
	for i := 1; i < len(seen); i++ {
		if u := seen[i].u; u.Changed && !u.Replay && u.Since.Before(seen[i-1].earliest) {
			t.Errorf("Update %d changed the state to %s %s before the predicted earliest change", i, u.State, seen[i-1].earliest.Sub(u.Since))
		}
	}
}

// TestMonitorHardEvidenceRealListener: a watched TCP service whose process
// dies (its port refuses, its connections close) is DOWN after fall rounds
// spaced by HardEvidenceSpacing, well before one fast_interval.
func TestMonitorHardEvidenceRealListener(t *testing.T) {
	h := listenHolding(t)
	c, err := NewCheck(CheckConfig{URL: "tcp://www.example.org:" + strconv.Itoa(int(h.port)), Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const fast = time.Second
	m, rec := acquire(t, Spec{Addr: loopback, Checks: []*Check{c}, Watch: true,
		Interval: 10 * time.Second, FastInterval: fast, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3})
	seen := predictions(t, m)
	rec.waitState(t, Up, firstVerdict)
	waitWatching(t, m)
	h.stop()
	d := rec.waitState(t, Down, 5*time.Second)
	t.Logf("Refusing target DOWN after %s (fall 3, fast_interval %s, HardEvidenceSpacing %s)", d.Round(time.Millisecond), fast, HardEvidenceSpacing)
	if d >= 600*time.Millisecond {
		t.Errorf("Refusing target DOWN after %s, want well under fast_interval (< 600ms)", d.Round(time.Millisecond))
	}
	for _, u := range rec.snapshot() {
		if !u.Result.OK && u.Result.Reason != ReasonRefused && u.Result.Reason != ReasonReset {
			t.Errorf("Failed round with reason %q, want %q or %q", u.Result.Reason, ReasonRefused, ReasonReset)
		}
	}
	checkEarliest(t, seen())
}

// TestMonitorHardEvidenceRestartNoFlap: a service that restarts between
// the refused rounds stays UP: a success ends the streak.
func TestMonitorHardEvidenceRestartNoFlap(t *testing.T) {
	h := listenHolding(t)
	c, err := NewCheck(CheckConfig{URL: "tcp://www.example.org:" + strconv.Itoa(int(h.port)), Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m, rec := acquire(t, Spec{Addr: loopback, Checks: []*Check{c}, Watch: true,
		Interval: 10 * time.Second, FastInterval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3})
	rec.waitState(t, Up, firstVerdict)
	waitWatching(t, m)
	// The service comes back as soon as the first refused round is heard,
	// on the monitor's goroutine, so before the next round starts.
	var mu sync.Mutex
	var failedAt, passedAt time.Time
	defer m.Subscribe(func(u Update) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case u.Replay:
		case !u.Result.OK && failedAt.IsZero():
			failedAt = time.Now()
			h.restart()
		case u.Result.OK && !failedAt.IsZero() && passedAt.IsZero():
			passedAt = time.Now()
		}
	})()
	n := len(rec.snapshot())
	h.stop()
	waitFor(t, 5*time.Second, "a failed round, then a passed one", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !passedAt.IsZero()
	})
	for _, u := range rec.snapshot()[n:] {
		if u.State != Up || u.Changed {
			t.Errorf("A restart between refused rounds changed the state: %+v", u)
		}
	}
	mu.Lock()
	d := passedAt.Sub(failedAt)
	mu.Unlock()
	if d >= 600*time.Millisecond {
		t.Errorf("The passed round came %s after the refused one, want HardEvidenceSpacing (%s), not fast_interval", d.Round(time.Millisecond), HardEvidenceSpacing)
	}
	waitWatching(t, m) // the passed round opened the watch again
}

// scriptProber returns the results queued for it, in order (OK when none
// is queued), and records when each probe started and ended. A queued
// result with hang set first waits for the probe's deadline, as a probe of
// a hung target does.
type scriptProber struct {
	mu     sync.Mutex
	queue  []scripted
	starts []time.Time // since the queue was last set
	ends   []time.Time
}

type scripted struct {
	r    Result
	hang bool
}

func (p *scriptProber) set(q ...scripted) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = q
	p.starts, p.ends = nil, nil
}

func (p *scriptProber) Probe(ctx context.Context, _ netip.AddrPort) Result {
	p.mu.Lock()
	p.starts = append(p.starts, time.Now())
	s := scripted{r: Result{OK: true}}
	if len(p.queue) > 0 {
		s, p.queue = p.queue[0], p.queue[1:]
	}
	p.mu.Unlock()
	if s.hang {
		<-ctx.Done()
	}
	p.mu.Lock()
	p.ends = append(p.ends, time.Now())
	p.mu.Unlock()
	return s.r
}

// times returns the start and end of every probe since the queue was set.
func (p *scriptProber) times() (starts, ends []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.starts...), append([]time.Time(nil), p.ends...)
}

func (p *scriptProber) Close() {}

func fail(reason string) scripted { return scripted{r: Result{Reason: reason, Detail: "scripted"}} }

// TestMonitorConfirmationSpacing: the rounds confirming a failure that the
// watch woke run HardEvidenceSpacing apart while they are refused, and
// fast_interval apart otherwise: soft failures, and any failure
// of a round the watch did not wake.
func TestMonitorConfirmationSpacing(t *testing.T) {
	const fast = 600 * time.Millisecond
	const short = fast / 2 // a loose bound for HardEvidenceSpacing
	for _, tc := range []struct {
		name   string
		watch  bool
		script []scripted
		hard   []bool // per gap between the failed rounds: at the short spacing
	}{
		{"refused", true, []scripted{fail(ReasonRefused), fail(ReasonRefused), fail(ReasonRefused)}, []bool{true, true}},
		// A reset may come after the connection was accepted (a proxy failing
		// a request): a symptom, not proof that nothing listens. Only the
		// round after a woken one comes early, to look for the proof.
		{"reset", true, []scripted{fail(ReasonReset), fail(ReasonReset), fail(ReasonReset)}, []bool{true, false}},
		// A process that is exiting resets the connections its listener had
		// not accepted yet, then refuses new ones.
		{"reset, then refused", true, []scripted{fail(ReasonReset), fail(ReasonRefused), fail(ReasonRefused)}, []bool{true, true}},
		{"timeout, then refused", true, []scripted{fail(ReasonTimeout), fail(ReasonRefused), fail(ReasonRefused)}, []bool{false, false}},
		{"timeout", true, []scripted{fail(ReasonTimeout), fail(ReasonTimeout), fail(ReasonTimeout)}, []bool{false, false}},
		{"status", true, []scripted{fail("status 503"), fail(ReasonRefused), fail(ReasonRefused)}, []bool{false, false}},
		{"refused, then a soft failure", true, []scripted{fail(ReasonRefused), fail(ReasonSlow), fail(ReasonRefused)}, []bool{true, false}},
		{"not woken by the watch", false, []scripted{fail(ReasonRefused), fail(ReasonRefused), fail(ReasonRefused)}, []bool{false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := listenHolding(t)
			p := &scriptProber{}
			interval := 10 * time.Second
			if !tc.watch {
				interval = 300 * time.Millisecond
			}
			m, rec := acquire(t, Spec{Addr: loopback, Port: h.port, Checks: []*Check{fakeCheck(p, t.Name())}, Watch: tc.watch,
				Interval: interval, FastInterval: fast, Timeout: time.Second, Rise: 2, Fall: 3})
			seen := predictions(t, m)
			rec.waitState(t, Up, firstVerdict)
			if tc.watch {
				waitWatching(t, m)
			}
			n := len(seen())
			p.set(tc.script...)
			if tc.watch {
				h.stop() // wakes the monitor
			}
			rec.waitState(t, Down, 10*time.Second)
			starts, _ := p.times()
			if len(starts) != len(tc.script) {
				t.Fatalf("%d rounds until DOWN, want %d", len(starts), len(tc.script))
			}
			for i, hard := range tc.hard {
				gap := starts[i+1].Sub(starts[i])
				switch {
				case hard && gap >= short:
					t.Errorf("Rounds %d and %d started %s apart, want HardEvidenceSpacing (%s)", i+1, i+2, gap.Round(time.Millisecond), HardEvidenceSpacing)
				case !hard && gap < fast-5*time.Millisecond:
					t.Errorf("Rounds %d and %d started %s apart, want at least fast_interval (%s)", i+1, i+2, gap.Round(time.Millisecond), fast)
				}
			}
			after := seen()
			checkEarliest(t, after)
			// After the first failure, two more are needed: one spacing apart.
			first := after[n]
			spacing := fast
			if tc.hard[0] {
				spacing = HardEvidenceSpacing
			}
			if got := first.earliest.Sub(first.next); got != spacing {
				t.Errorf("After the first failure EarliestChange is %s after the next round, want %s", got, spacing)
			}
		})
	}
}

// TestMonitorRiseAfterHang: a hung target whose probe gets its answer as
// the target resumes, just before the timeout, comes back only after rise
// rounds each starting at least fast_interval after the previous one ended.
func TestMonitorRiseAfterHang(t *testing.T) {
	const fast, timeout, rise = 200 * time.Millisecond, 500 * time.Millisecond, 3
	p := &scriptProber{}
	m, rec := acquire(t, Spec{Addr: loopback, Checks: []*Check{fakeCheck(p, t.Name())},
		Interval: 300 * time.Millisecond, FastInterval: fast, Timeout: timeout, Rise: rise, Fall: 1})
	seen := predictions(t, m)
	rec.waitState(t, Up, firstVerdict)
	p.set(fail(ReasonTimeout), scripted{r: Result{OK: true}, hang: true})
	rec.waitState(t, Down, 5*time.Second)
	waitFor(t, 10*time.Second, "UP again", func() bool {
		u := rec.snapshot()
		return u[len(u)-1].State == Up && u[len(u)-1].Changed
	})
	starts, ends := p.times()
	if len(starts) < 1+rise {
		t.Fatalf("%d rounds from the failure to UP, want at least %d", len(starts), 1+rise)
	}
	// Round 1 failed, round 2 waited out its timeout and passed, rounds 3
	// and 4 confirmed.
	for i := 1; i < rise; i++ {
		if gap := starts[i+1].Sub(ends[i]); gap < fast {
			t.Errorf("Rise round %d started %s after the previous one ended, want at least fast_interval (%s)", i+2, gap.Round(time.Millisecond), fast)
		}
	}
	var upAt time.Time
	for _, s := range rec.snapshot() {
		if s.Changed && s.State == Up {
			upAt = s.Since
		}
	}
	if d := upAt.Sub(ends[1]); d < (rise-1)*fast {
		t.Errorf("UP %s after the resumed round ended, want at least (rise-1) x fast_interval = %s", d.Round(time.Millisecond), (rise-1)*fast)
	}
	checkEarliest(t, seen())
}
