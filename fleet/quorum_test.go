package fleet

import (
	"testing"
	"time"

	"github.com/failover-dns/failover/health"
)

func TestQuorumOf(t *testing.T) {
	for _, c := range []struct {
		quorum, probers, want int
	}{
		{Majority, 1, 1}, {Majority, 2, 2}, {Majority, 3, 2}, {Majority, 4, 3}, {Majority, 5, 3},
		{1, 3, 1}, {2, 3, 2}, {3, 2, 2}, {Majority, 0, 1},
	} {
		if got := (Config{Quorum: c.quorum}).quorumOf(c.probers); got != c.want {
			t.Errorf("quorum %d over %d probers: %d, want %d", c.quorum, c.probers, got, c.want)
		}
	}
}

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	up := func(s int) Verdict { return Verdict{State: health.Up, Since: t0.Add(time.Duration(s) * time.Second)} }
	down := func(s int, why string) Verdict {
		return Verdict{State: health.Down, Since: t0.Add(time.Duration(s) * time.Second), Reason: why}
	}
	wasUp := decision{state: health.Up, since: t0}
	wasDown := decision{state: health.Down, since: t0, failure: down(0, "old")}
	probers := []string{"a", "b"}
	for _, c := range []struct {
		name     string
		verdicts map[string]Verdict
		quorum   int
		last     decision
		want     health.State
		since    int
		reason   string
	}{
		{"both down: down", map[string]Verdict{"a": down(3, "refused"), "b": down(5, "timeout")}, 2, wasUp, health.Down, 5, "refused"},
		{"one down one up: holds", map[string]Verdict{"a": down(3, "refused"), "b": up(1)}, 2, wasUp, health.Up, 0, ""},
		{"one down, other abstains: holds", map[string]Verdict{"a": down(3, "refused")}, 2, wasUp, health.Up, 0, ""},
		{"verdict of a non-prober does not count", map[string]Verdict{"a": down(3, "x"), "c": down(3, "x")}, 2, wasUp, health.Up, 0, ""},
		{"both up after down: up", map[string]Verdict{"a": up(7), "b": up(9)}, 2, wasDown, health.Up, 9, ""},
		{"no verdict: unknown holds", nil, 2, decision{}, health.Unknown, -1, ""},
		{"quorum 1, disagree: holds up", map[string]Verdict{"a": down(3, "x"), "b": up(1)}, 1, wasUp, health.Up, 0, ""},
		{"quorum 1, disagree: holds down", map[string]Verdict{"a": down(3, "x"), "b": up(1)}, 1, wasDown, health.Down, 0, "old"},
		{"quorum 1, one down, other silent: down", map[string]Verdict{"b": down(4, "x")}, 1, wasUp, health.Down, 4, "x"},
		{"already down: keeps its since", map[string]Verdict{"a": down(3, "new"), "b": down(5, "new")}, 2, wasDown, health.Down, 0, "old"},
	} {
		got := decide(probers, c.verdicts, c.quorum, c.last)
		if got.state != c.want {
			t.Errorf("%s: %s, want %s", c.name, got.state, c.want)
			continue
		}
		if c.since >= 0 && !got.since.Equal(t0.Add(time.Duration(c.since)*time.Second)) {
			t.Errorf("%s: since %s, want +%ds", c.name, got.since, c.since)
		}
		if got.failure.Reason != c.reason {
			t.Errorf("%s: failure %q, want %q", c.name, got.failure.Reason, c.reason)
		}
	}
}

func TestRTTMoved(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		old, cur time.Duration
		want     bool
	}{
		{0, 50 * time.Microsecond, false},       // loopback jitter
		{100 * time.Microsecond, 3 * ms, false}, // a loaded prober's spike, smoothed
		{0, 6 * ms, true},
		{20 * ms, 24 * ms, false},   // 20 %, but under 5 ms
		{20 * ms, 26 * ms, true},    // 30 %, 6 ms
		{200 * ms, 230 * ms, false}, // 15 %
		{200 * ms, 160 * ms, true},  // 20 %
	} {
		if got := rttMoved(c.old, c.cur); got != c.want {
			t.Errorf("rttMoved(%s, %s) = %v, want %v", c.old, c.cur, got, c.want)
		}
	}
}
