package events

import (
	"sync"
	"time"
)

// DefaultCapacity is how many events a Log keeps when NewLog is given no
// capacity.
const DefaultCapacity = 10_000

// Log is a bounded history of events: a ring that keeps the newest events
// up to its capacity and drops the oldest to make room. Each event appended
// is also handed to the Log's subscriptions (see Subscribe).
type Log struct {
	clock    func() time.Time
	capacity int

	mu   sync.Mutex
	ring []Event // grows up to capacity, then wraps
	head int     // index of the oldest event once the ring is full
	last uint64  // ID of the newest event; 0 before the first

	subs   []*Subscription // open subscriptions
	closed bool            // Close was called: no new subscriptions
}

// NewLog returns an empty Log that keeps the newest capacity events
// (DefaultCapacity if capacity <= 0) and stamps events with clock
// (time.Now if nil). Its memory grows with the events it holds, up to
// capacity.
func NewLog(capacity int, clock func() time.Time) *Log {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	if clock == nil {
		clock = time.Now
	}
	return &Log{clock: clock, capacity: capacity}
}

// Append numbers e with the next ID, stamps it with the Log's clock unless
// e.Time is set, stores it, dropping the oldest event if the Log is full,
// hands it to every subscription that has room for it, and returns it as
// stored. It never waits for a subscriber. It takes one lock and, once the
// Log is full, allocates nothing. The clock is read under the lock, so that
// times do not go backwards from one ID to the next (with a clock that does
// not).
func (l *Log) Append(e Event) Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last++
	e.ID = l.last
	if e.Time.IsZero() {
		e.Time = l.clock()
	}
	if len(l.ring) < l.capacity {
		l.grow()
		l.ring = append(l.ring, e)
	} else {
		l.ring[l.head] = e
		l.head = (l.head + 1) % l.capacity
	}
	for _, s := range l.subs {
		s.deliver(e)
	}
	return e
}

// grow makes room in the ring for one more event, if it has none, doubling
// its room but never past the capacity (append's own growth would). The
// caller holds the lock.
func (l *Log) grow() {
	if len(l.ring) < cap(l.ring) {
		return
	}
	grown := make([]Event, len(l.ring), min(max(2*len(l.ring), 64), l.capacity))
	copy(grown, l.ring)
	l.ring = grown
}

// Since returns the events with an ID above id, oldest first, at most limit
// of them (limit <= 0 or above the capacity: the capacity), and the ID of
// the oldest event the Log still holds (0 while it is empty). If oldest is
// above id+1, the events from id+1 to oldest-1 were dropped before the
// caller asked: it missed them.
//
// Since(0, n) pages from the oldest event; Since(Last()-n, n) (with n at
// most Last()) gives the newest n.
func (l *Log) Since(id uint64, limit int) (events []Event, oldest uint64) {
	if limit <= 0 || limit > l.capacity {
		limit = l.capacity
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	held := uint64(len(l.ring))
	if held == 0 {
		return nil, 0
	}
	oldest = l.last - held + 1
	if id >= l.last {
		return nil, oldest
	}
	skip := uint64(0) // held events at or below id
	if id >= oldest {
		skip = id - oldest + 1
	}
	n := min(held-skip, uint64(limit))
	events = make([]Event, n)
	for i := range events {
		events[i] = l.ring[(l.head+int(skip)+i)%len(l.ring)]
	}
	return events, oldest
}

// Last returns the ID of the newest event, 0 before the first. A reader
// that remembers an ID above it is reading a different Log than the one it
// got that ID from (after a restart, IDs begin again at 1).
func (l *Log) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
