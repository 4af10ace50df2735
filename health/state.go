package health

// State is a target's health as decided by the rise/fall rule.
type State uint8

const (
	// Unknown means no probe has finished yet.
	Unknown State = iota
	// Up means the target passed its checks.
	Up
	// Down means the target failed its checks.
	Down
)

func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "unknown"
}

// Tracker turns a stream of probe results into a State with hysteresis:
// an UP target goes DOWN after Fall consecutive failures, a DOWN target
// goes UP after Rise consecutive successes. The first result decides the
// initial state, so a target that is dead at start-up leaves the answers
// after one probe rather than after Fall probes.
//
// A Tracker is not safe for concurrent use.
type Tracker struct {
	rise, fall int
	state      State
	streak     int // consecutive results that disagree with state
}

// NewTracker returns a Tracker in the Unknown state. rise and fall must be at least 1.
func NewTracker(rise, fall int) *Tracker {
	return &Tracker{rise: rise, fall: fall}
}

// Reset forgets every result: the state is Unknown again and the next
// result decides it, as a new Tracker's first does.
func (t *Tracker) Reset() { t.state, t.streak = Unknown, 0 }

// State returns the current state.
func (t *Tracker) State() State { return t.state }

// Pending reports whether the latest results disagree with the state: a
// change is being confirmed.
func (t *Tracker) Pending() bool { return t.streak > 0 }

// Remaining returns how many more results that disagree with the state
// would change it: 1 before the first verdict, otherwise Fall (for UP) or
// Rise (for DOWN) less the disagreeing results already seen in a row.
func (t *Tracker) Remaining() int {
	switch t.state {
	case Unknown:
		return 1
	case Up:
		return t.fall - t.streak
	}
	return t.rise - t.streak
}

// Observe records one probe result and returns the new state and whether it changed.
func (t *Tracker) Observe(ok bool) (State, bool) {
	switch {
	case t.state == Unknown:
		t.state = Down
		if ok {
			t.state = Up
		}
		return t.state, true
	case ok == (t.state == Up):
		t.streak = 0
		return t.state, false
	}
	t.streak++
	need := t.fall
	if t.state == Down {
		need = t.rise
	}
	if t.streak < need {
		return t.state, false
	}
	t.streak = 0
	if t.state == Up {
		t.state = Down
	} else {
		t.state = Up
	}
	return t.state, true
}
