package health

import "testing"

func TestTrackerFirstResultDecides(t *testing.T) {
	for _, ok := range []bool{true, false} {
		tr := NewTracker(3, 3)
		s, changed := tr.Observe(ok)
		want := Down
		if ok {
			want = Up
		}
		if s != want || !changed {
			t.Errorf("First result %v: got %s (changed %v), want %s (changed)", ok, s, changed, want)
		}
	}
}

func TestTrackerRiseFall(t *testing.T) {
	tr := NewTracker(2, 3)
	tr.Observe(true)
	steps := []struct {
		ok      bool
		want    State
		changed bool
	}{
		{false, Up, false}, {false, Up, false}, {true, Up, false}, // a broken failure streak starts over
		{false, Up, false}, {false, Up, false}, {false, Down, true},
		{true, Down, false}, {false, Down, false}, {true, Down, false}, {true, Up, true},
	}
	for i, st := range steps {
		s, changed := tr.Observe(st.ok)
		if s != st.want || changed != st.changed {
			t.Fatalf("Step %d (ok=%v): got %s changed=%v, want %s changed=%v", i, st.ok, s, changed, st.want, st.changed)
		}
	}
}

func TestTrackerAlternatingNeverFlaps(t *testing.T) {
	for _, start := range []bool{true, false} {
		tr := NewTracker(2, 2)
		first, _ := tr.Observe(start)
		ok := !start
		for i := 0; i < 1000; i++ {
			if s, changed := tr.Observe(ok); changed || s != first {
				t.Fatalf("Probe %d: state moved to %s; a target failing every other probe must stay %s", i, s, first)
			}
			ok = !ok
		}
	}
}

func TestTrackerRemaining(t *testing.T) {
	tr := NewTracker(2, 3)
	if n := tr.Remaining(); n != 1 {
		t.Fatalf("Before the first verdict: Remaining() = %d, want 1 (the first result decides)", n)
	}
	for i, st := range []struct {
		ok   bool
		want int
	}{
		{true, 3},                         // UP: fall 3 failures to go DOWN
		{false, 2}, {false, 1}, {true, 3}, // a broken streak starts over
		{false, 2}, {false, 1}, {false, 2}, // DOWN: rise 2 successes to go UP
		{true, 1}, {false, 2}, {true, 1}, {true, 3},
	} {
		tr.Observe(st.ok)
		if n := tr.Remaining(); n != st.want {
			t.Fatalf("Step %d (ok=%v, state %s): Remaining() = %d, want %d", i, st.ok, tr.State(), n, st.want)
		}
	}
}

func TestTrackerReset(t *testing.T) {
	tr := NewTracker(2, 3)
	tr.Observe(true)
	tr.Observe(false) // a failure streak under way
	tr.Reset()
	if s, n := tr.State(), tr.Remaining(); s != Unknown || n != 1 || tr.Pending() {
		t.Fatalf("After Reset: state %s, Remaining %d, Pending %v; want unknown, 1, false", s, n, tr.Pending())
	}
	if s, changed := tr.Observe(false); s != Down || !changed {
		t.Errorf("First result after Reset (failure): %s changed=%v, want down changed (a first verdict)", s, changed)
	}
}
