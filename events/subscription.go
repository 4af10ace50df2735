package events

import (
	"slices"
	"sync/atomic"
)

// DefaultBuffer is how many events a subscription buffers when Subscribe is
// given no buffer size.
const DefaultBuffer = 256

// Subscription receives the events appended to a Log after it was made. Its
// channel holds up to its buffer size; when the channel is full, Append
// drops the event for this subscription and counts it in Dropped, rather
// than wait. Since IDs go up one by one, a subscriber also sees each loss as
// a gap between the IDs it receives, and can fetch the missing events with
// Log.Since while the Log still holds them.
type Subscription struct {
	log     *Log
	ch      chan Event
	closed  bool // guarded by log.mu
	dropped atomic.Uint64
}

// Subscribe returns a subscription to the events appended from now on, with
// a channel that buffers buffer events (DefaultBuffer if buffer <= 0). The
// caller must Close it when done. On a closed Log, the subscription's
// channel is closed already.
//
// To resume from an ID without a gap or a duplicate, subscribe first, then
// read the history with Since, then read the channel, skipping the events
// Since returned already.
func (l *Log) Subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	s := &Subscription{log: l, ch: make(chan Event, buffer)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		s.closed = true
		close(s.ch)
		return s
	}
	l.subs = append(l.subs, s)
	return s
}

// C returns the channel the events arrive on, oldest first. It is closed
// when the subscription or its Log is closed; the events it buffered then
// can still be read.
func (s *Subscription) C() <-chan Event { return s.ch }

// Dropped returns how many events this subscription lost because its
// channel was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes its channel. It may be called more
// than once, and after the Log's Close.
func (s *Subscription) Close() {
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.closed {
		return
	}
	s.close()
	i := slices.Index(l.subs, s)
	last := len(l.subs) - 1
	l.subs[i], l.subs[last] = l.subs[last], nil
	l.subs = l.subs[:last]
}

// close closes the channel. The caller holds the Log's lock.
func (s *Subscription) close() {
	s.closed = true
	close(s.ch)
}

// deliver hands e to the subscriber without waiting, or counts it dropped.
// The caller holds the Log's lock, so the channel is open and events
// arrive in ID order.
func (s *Subscription) deliver(e Event) {
	select {
	case s.ch <- e:
	default:
		s.dropped.Add(1)
	}
}

// Close closes every subscription of the Log and refuses new ones (they
// come closed). The history stays readable, and Append still stores events,
// but hands them to nobody. Close may be called more than once.
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, s := range l.subs {
		s.close()
	}
	l.subs = nil
}
