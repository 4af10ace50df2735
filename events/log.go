package events

import (
	"sync"
	"time"
	"unsafe"
)

// DefaultCapacity is how many events a Log keeps when NewLog is given no
// capacity.
const DefaultCapacity = 10_000

// DefaultMaxBytes is how much memory, as EstimatedSize counts it, the events
// a Log made by NewLog hold at most. Events of a few hundred bytes reach
// DefaultCapacity first; large ones (an answer_changed of a pool of a
// thousand targets is about 50 KB) reach this bound first.
const DefaultMaxBytes = 16 << 20

// Log is a bounded history of events: a ring that keeps the newest events
// up to its capacity and its byte budget, dropping the oldest to make room.
// Each event appended is also handed to the Log's subscriptions (see
// Subscribe).
type Log struct {
	clock    func() time.Time
	capacity int
	maxBytes int

	mu    sync.Mutex
	ring  []entry // grows up to capacity; the held events wrap around it
	head  int     // index of the oldest event held
	held  int     // how many events are held
	bytes int     // the held events' EstimatedSize, summed
	last  uint64  // ID of the newest event; 0 before the first

	subs   []*Subscription // open subscriptions
	closed bool            // Close was called: no new subscriptions
}

// entry is an event held, with its size as counted when it was appended.
type entry struct {
	event Event
	size  int
}

// NewLog returns an empty Log that keeps the newest capacity events
// (DefaultCapacity if capacity <= 0), at most DefaultMaxBytes of them, and
// stamps events with clock (time.Now if nil).
func NewLog(capacity int, clock func() time.Time) *Log {
	return NewLogSized(capacity, DefaultMaxBytes, clock)
}

// NewLogSized is NewLog with a byte budget: the events held never add up
// to more than maxBytes (DefaultMaxBytes if maxBytes <= 0) as EstimatedSize
// counts them, except that the newest event is always held. Its memory
// grows with the events it holds, up to these bounds.
func NewLogSized(capacity, maxBytes int, clock func() time.Time) *Log {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if clock == nil {
		clock = time.Now
	}
	return &Log{clock: clock, capacity: capacity, maxBytes: maxBytes}
}

// Sizes of the parts of an event that EstimatedSize counts besides the text.
const (
	eventSize      = int(unsafe.Sizeof(Event{}))
	stringSize     = int(unsafe.Sizeof(""))
	poolTargetSize = int(unsafe.Sizeof(PoolTarget{}))
)

// EstimatedSize is about how many bytes an event holds in memory: the
// struct, its strings, and its lists with their strings. It allocates
// nothing.
func EstimatedSize(e Event) int {
	n := eventSize + len(e.Type) + len(e.Server) + len(e.Pool) + len(e.Target) + len(e.Check) +
		len(e.Reason) + len(e.Detail) + len(e.Family) + len(e.Policy) + len(e.Action) + len(e.NotifiedBy)
	for _, list := range [...][]string{e.Old, e.New, e.PoolsAdded, e.PoolsRemoved} {
		n += len(list) * stringSize
		for _, s := range list {
			n += len(s)
		}
	}
	for _, list := range [...][]PoolTarget{e.TargetsAdded, e.TargetsRemoved} {
		n += len(list) * poolTargetSize
		for _, pt := range list {
			n += len(pt.Pool) + len(pt.Target)
		}
	}
	return n
}

// Append numbers e with the next ID, stamps it with the Log's clock unless
// e.Time is set, stores it, dropping the oldest events past the Log's
// capacity or byte budget, hands it to every subscription that has room for
// it, and returns it as stored. It never waits for a subscriber. It takes
// one lock and, once the ring has grown to its capacity, allocates nothing.
// The clock is read under the lock, so that times do not go backwards from
// one ID to the next (with a clock that does not).
func (l *Log) Append(e Event) Event {
	size := EstimatedSize(e)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last++
	e.ID = l.last
	if e.Time.IsZero() {
		e.Time = l.clock()
	}
	for l.held > 0 && (l.held == l.capacity || l.bytes+size > l.maxBytes) {
		l.dropOldest()
	}
	l.grow()
	l.ring[(l.head+l.held)%len(l.ring)] = entry{event: e, size: size}
	l.held++
	l.bytes += size
	for _, s := range l.subs {
		s.deliver(e)
	}
	return e
}

// dropOldest forgets the oldest event held, releasing what it refers to.
// The caller holds the lock.
func (l *Log) dropOldest() {
	l.bytes -= l.ring[l.head].size
	l.ring[l.head] = entry{}
	l.head = (l.head + 1) % len(l.ring)
	l.held--
}

// grow makes room in the ring for one more event, if it has none, doubling
// its room but never past the capacity (append's own growth would), and
// unwrapping the events held. The caller holds the lock.
func (l *Log) grow() {
	if l.held < len(l.ring) {
		return
	}
	grown := make([]entry, min(max(2*len(l.ring), 64), l.capacity))
	for i := range l.held {
		grown[i] = l.ring[(l.head+i)%len(l.ring)]
	}
	l.ring, l.head = grown, 0
}

// HeldBytes returns the EstimatedSize of the events the Log holds, summed.
func (l *Log) HeldBytes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes
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
	held := uint64(l.held)
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
		events[i] = l.ring[(l.head+int(skip)+i)%len(l.ring)].event
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
