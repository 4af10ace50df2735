package failover

import (
	"math"
	"testing"
	"time"

	"github.com/failover-dns/failover/health"
)

func TestUptime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var h history
	if got := h.uptime(t0, time.Hour); got != 0 {
		t.Errorf("No verdict: uptime %v, want 0", got)
	}
	h = h.add(t0, health.Up)
	h = h.add(t0.Add(30*time.Minute), health.Down)
	h = h.add(t0.Add(45*time.Minute), health.Up)
	for _, tc := range []struct {
		at     time.Duration
		window time.Duration
		want   float64
	}{
		{time.Hour, time.Hour, 0.75},                   // 45 of 60 minutes up
		{90 * time.Minute, time.Hour, 0.75},            // the window from 0:30: 15 down, 45 up
		{2 * time.Hour, time.Hour, 1},                  // up all the last hour
		{time.Hour, 24 * time.Hour, 0.75},              // only the hour seen counts
		{10 * time.Minute, time.Hour, 1},               // 10 minutes seen, all up
		{40 * time.Minute, 20 * time.Minute, 0.5},      // 0:20-0:40: 10 up, 10 down
		{25 * time.Hour, 24 * time.Hour, 1},            // long after
		{45 * time.Minute, 15 * time.Minute, 0},        // exactly the down quarter
		{50 * time.Minute, 50 * time.Minute, 35. / 50}, // 30 up, 15 down, 5 up
	} {
		if got := h.uptime(t0.Add(tc.at), tc.window); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("At %s over %s: uptime %.4f, want %.4f", tc.at, tc.window, got, tc.want)
		}
	}
	// Changes older than a day are dropped, but the state the window opens with stays.
	h = h.add(t0.Add(30*time.Hour), health.Down)
	if len(h) != 2 || h[0].state != health.Up || h[1].state != health.Down {
		t.Errorf("After a day: history %v, want the last UP before the window and the DOWN", h)
	}
	if got := h.uptime(t0.Add(31*time.Hour), time.Hour); got != 0 {
		t.Errorf("Down for the last hour: uptime %v, want 0", got)
	}
}
