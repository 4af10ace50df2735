package failover

import (
	"time"

	"github.com/failover-dns/failover/health"
)

// uptimeWindow is the longest window uptime is reported over; history
// older than that is dropped.
const uptimeWindow = 24 * time.Hour

// stateChange is a moment a target entered a state.
type stateChange struct {
	at    time.Time
	state health.State
}

// history is a target's state changes over the last uptimeWindow (and the
// last one before it, which says the state the window opens with).
type history []stateChange

// add records a change at now and drops what no window needs any more.
func (h history) add(now time.Time, s health.State) history {
	h = append(h, stateChange{now, s})
	cut := 0
	for cut+1 < len(h) && h[cut+1].at.Before(now.Add(-uptimeWindow)) {
		cut++
	}
	return append(h[:0], h[cut:]...)
}

// uptime is the share of the window ending at now that the target was UP,
// counting only the time since its first verdict (0 with none).
func (h history) uptime(now time.Time, window time.Duration) float64 {
	start := now.Add(-window)
	var up, seen time.Duration
	for i, c := range h {
		if !c.at.Before(now) {
			break
		}
		end := now
		if i+1 < len(h) && h[i+1].at.Before(now) {
			end = h[i+1].at
		}
		from := c.at
		if from.Before(start) {
			from = start
		}
		if !end.After(from) {
			continue
		}
		seen += end.Sub(from)
		if c.state == health.Up {
			up += end.Sub(from)
		}
	}
	if seen == 0 {
		return 0
	}
	return float64(up) / float64(seen)
}
