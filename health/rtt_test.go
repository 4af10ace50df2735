package health

import (
	"testing"
	"time"
)

func TestEWMA(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		prev, sample, want time.Duration
	}{
		{0, 100 * ms, 100 * ms}, // the first sample starts it
		{0, 0, 1},               // and 0 still means "none yet" afterwards
		{100 * ms, 200 * ms, 130 * ms},
		{130 * ms, 200 * ms, 151 * ms},
		{200 * ms, 100 * ms, 170 * ms}, // down as well as up
		{100 * ms, 100 * ms, 100 * ms},
		{10, 20, 13},
		{10, 11, 10}, // rounded to the nearest nanosecond: 10.3
		{10, 12, 11}, // 10.6
	} {
		if got := ewma(tc.prev, tc.sample); got != tc.want {
			t.Errorf("ewma(%s, %s) = %s, want %s", tc.prev, tc.sample, got, tc.want)
		}
	}
}

// TestEWMAFollowsAndResists: a step change is mostly followed within a few
// rounds; a single outlier moves the average by a bounded share of it.
func TestEWMAFollowsAndResists(t *testing.T) {
	ms := time.Millisecond
	srtt := 10 * ms
	for range 5 {
		srtt = ewma(srtt, 110*ms)
	}
	if srtt < 90*ms { // 1 − 0.7⁵ = 83 % of the 100 ms step
		t.Errorf("After 5 rounds at 110ms from 10ms the average is %s, want at least 90ms", srtt)
	}
	srtt = ewma(10*ms, time.Second)
	if srtt > 400*ms {
		t.Errorf("One 1s outlier moved a 10ms average to %s, want at most 400ms", srtt)
	}
	for range 6 {
		srtt = ewma(srtt, 10*ms)
	}
	if srtt > 60*ms {
		t.Errorf("6 rounds after a 1s outlier the average is still %s, want at most 60ms", srtt)
	}
}

func TestRoundRTT(t *testing.T) {
	ok := func(d time.Duration) Result { return Result{OK: true, Duration: d} }
	bad := func(d time.Duration) Result { return Result{Reason: ReasonTimeout, Duration: d} }
	for _, tc := range []struct {
		results []Result
		want    time.Duration
	}{
		{[]Result{ok(3 * time.Millisecond)}, 3 * time.Millisecond},
		{[]Result{ok(3 * time.Millisecond), ok(7 * time.Millisecond), ok(5 * time.Millisecond)}, 7 * time.Millisecond},
		// require 2 of 3: the timed-out check is not the target's RTT.
		{[]Result{ok(3 * time.Millisecond), bad(time.Second), ok(5 * time.Millisecond)}, 5 * time.Millisecond},
		{[]Result{bad(time.Second)}, 0},
		// A result's own RTT stands for it, not its whole duration.
		{[]Result{{OK: true, Duration: 9 * time.Millisecond, RTT: 2 * time.Millisecond}, ok(5 * time.Millisecond)}, 5 * time.Millisecond},
		{[]Result{{OK: true, Duration: 9 * time.Millisecond, RTT: 6 * time.Millisecond}, ok(5 * time.Millisecond)}, 6 * time.Millisecond},
	} {
		if got := roundRTT(tc.results); got != tc.want {
			t.Errorf("roundRTT(%+v) = %s, want %s", tc.results, got, tc.want)
		}
	}
}

// TestMonitorRTT: passed rounds feed the smoothed RTT, failed ones leave
// it, every update carries it, and so do the replays a new subscriber and
// EndHold send.
func TestMonitorRTT(t *testing.T) {
	ms := time.Millisecond
	m, _, feed := gatedResults(t, 1, 1, 10*ms, 10*ms)
	pass := func(d time.Duration) Update { return feed(Result{OK: true, Duration: d}) }
	fail := func(d time.Duration) Update {
		return feed(Result{Reason: ReasonTimeout, Detail: "fed a timeout", Duration: d})
	}
	for _, st := range []struct {
		what  string
		round func() Update
		want  time.Duration
	}{
		{"Failed first round", func() Update { return fail(time.Second) }, 0},
		{"First passed round", func() Update { return pass(100 * ms) }, 100 * ms},
		{"Second passed round", func() Update { return pass(200 * ms) }, 130 * ms},
		{"Failed round (timeout)", func() Update { return fail(5 * time.Second) }, 130 * ms},
		{"Failed round (refused)", func() Update { return fail(ms) }, 130 * ms},
		{"Passed round after DOWN", func() Update { return pass(230 * ms) }, 160 * ms},
	} {
		u := st.round()
		if u.RTT != st.want || m.RTT() != st.want {
			t.Fatalf("%s: Update.RTT %s, Monitor.RTT() %s, want %s", st.what, u.RTT, m.RTT(), st.want)
		}
	}

	// The last round brought the target back UP: a hold-down to end.
	heard := &recorder{}
	defer m.Subscribe(heard.add)()
	m.EndHold()
	m.holds.Wait()
	late := &recorder{} // the next configuration after a reload
	defer m.Subscribe(late.add)()
	for name, u := range map[string][]Update{"EndHold": heard.snapshot()[1:], "new subscriber": late.snapshot()} {
		if len(u) != 1 || !u[0].Replay || u[0].RTT != 160*ms {
			t.Errorf("The %s replay: %+v, want one Replay with RTT 160ms", name, u)
		}
	}
}
