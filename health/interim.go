package health

import "time"

// Interim versions, replaced by the health branch's.

// EarliestChange is the next probe round plus the confirmations a change needs.
func (m *Monitor) EarliestChange() time.Time {
	return m.NextProbe().Add(time.Duration(m.spec.Fall-1) * m.spec.FastInterval)
}

// EndHold clears the recovered flag.
func (m *Monitor) EndHold() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.recovered {
		return
	}
	m.recovered = false
	for _, fn := range m.subs {
		fn(Update{Result: m.last, State: m.tracker.State(), Since: m.since, Changed: true, Replay: true})
	}
}
