package health

import "time"

// Accessors only tests need.

// NextProbe returns when the next scheduled probe round is due; the zero
// time while the monitor is idle (no reference asks for probing, see
// Standby): no round is scheduled.
func (m *Monitor) NextProbe() time.Time {
	if !m.probing.Load() {
		return time.Time{}
	}
	return time.Unix(0, m.nextDue.Load())
}
