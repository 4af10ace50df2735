package events

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// drain reads s's channel until it is closed and returns the IDs read. It
// fails the test if the channel is not closed within a few seconds.
func drain(t *testing.T, s *Subscription) []uint64 {
	t.Helper()
	var got []uint64
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-s.C():
			if !ok {
				return got
			}
			got = append(got, e.ID)
		case <-deadline:
			t.Fatalf("Channel not closed after 5s; read %v", got)
		}
	}
}

// buffered returns the IDs s's channel holds, without waiting.
func buffered(s *Subscription) []uint64 {
	var got []uint64
	for {
		select {
		case e := <-s.C():
			got = append(got, e.ID)
		default:
			return got
		}
	}
}

func TestSubscriptionGetsEventsAppendedAfterIt(t *testing.T) {
	l := NewLog(10, nil)
	appendN(l, 2)
	s := l.Subscribe(10)
	defer s.Close()
	appendN(l, 3)
	if got := buffered(s); !slices.Equal(got, span(3, 5)) {
		t.Errorf("Subscription received %v, want 3 to 5", got)
	}
	if s.Dropped() != 0 {
		t.Errorf("Dropped() = %d, want 0", s.Dropped())
	}
}

func TestSlowSubscriberNeverBlocksAppend(t *testing.T) {
	const n, slowBuffer = 10_000, 4
	l := NewLog(100, nil)
	slow := l.Subscribe(slowBuffer) // never read while appending
	all := l.Subscribe(n)           // room for every event
	done := make(chan struct{})
	go func() {
		defer close(done)
		appendN(l, n)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // loose: it takes milliseconds
		t.Fatal("Append blocked on a subscriber that does not read")
	}
	if got := buffered(slow); !slices.Equal(got, span(1, slowBuffer)) {
		t.Errorf("Slow subscriber holds %v, want the first %d events", got, slowBuffer)
	}
	if got := slow.Dropped(); got != n-slowBuffer {
		t.Errorf("Slow subscriber's Dropped() = %d, want %d", got, n-slowBuffer)
	}
	if got := buffered(all); !slices.Equal(got, span(1, n)) || all.Dropped() != 0 {
		t.Errorf("Subscriber with room received %d events and dropped %d, want all %d and none dropped", len(got), all.Dropped(), n)
	}
}

// A subscriber reading while writers append receives events in ID order,
// and what it receives plus what it dropped is every event.
func TestConcurrentSubscriberAccountsForEveryEvent(t *testing.T) {
	const writers, each = 8, 1000
	l := NewLog(100, nil)
	s := l.Subscribe(16)
	var got []uint64
	read := make(chan struct{})
	go func() {
		defer close(read)
		for e := range s.C() { // ends at the Log's Close
			got = append(got, e.ID)
		}
	}()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() { appendN(l, each) })
	}
	wg.Wait()
	l.Close()
	<-read
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("Subscriber received IDs out of order or twice")
	}
	if total := uint64(len(got)) + s.Dropped(); total != writers*each {
		t.Errorf("Subscriber received %d and dropped %d events, %d in all; want %d", len(got), s.Dropped(), total, writers*each)
	}
}

func TestLogCloseClosesSubscriptions(t *testing.T) {
	l := NewLog(10, nil)
	a, b := l.Subscribe(10), l.Subscribe(10)
	appendN(l, 1)
	l.Close()
	l.Close() // idempotent
	if got := drain(t, a); !slices.Equal(got, []uint64{1}) {
		t.Errorf("After Close, the channel yielded %v, want the buffered [1]", got)
	}
	drain(t, b)
	a.Close() // after the Log's Close: no panic
	a.Close()

	late := l.Subscribe(10)
	if got := drain(t, late); len(got) != 0 {
		t.Errorf("Subscription to a closed Log received %v", got)
	}
	late.Close()

	if e := l.Append(Event{Type: TypeTargetUp}); e.ID != 2 {
		t.Errorf("Append after Close gave ID %d, want 2", e.ID)
	}
	if events, _ := l.Since(0, 0); !slices.Equal(ids(events), []uint64{1, 2}) {
		t.Errorf("After Close, Since(0, 0) = %v, want [1 2]: the history stays", ids(events))
	}
}

func TestSubscriptionClose(t *testing.T) {
	l := NewLog(10, nil)
	subs := []*Subscription{l.Subscribe(1), l.Subscribe(1), l.Subscribe(1)}
	middle := subs[1]
	middle.Close()
	middle.Close() // idempotent
	if got := drain(t, middle); len(got) != 0 {
		t.Errorf("Closed subscription received %v", got)
	}
	appendN(l, 2)
	if middle.Dropped() != 0 {
		t.Errorf("Closed subscription counted %d drops, want 0: it should be gone from the Log", middle.Dropped())
	}
	for _, i := range []int{0, 2} {
		if got := buffered(subs[i]); !slices.Equal(got, []uint64{1}) || subs[i].Dropped() != 1 {
			t.Errorf("Subscription %d received %v and dropped %d, want [1] and 1", i, got, subs[i].Dropped())
		}
	}
	l.Close()
	middle.Close()
}

// Subscriptions come and go while writers append (for the race detector).
func TestSubscribeAndCloseDuringAppend(t *testing.T) {
	l := NewLog(100, nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { appendN(l, 2000) })
		wg.Go(func() {
			for range 200 {
				s := l.Subscribe(8)
				buffered(s)
				s.Close()
			}
		})
	}
	wg.Wait()
	l.Close()
	if l.Last() != 8000 {
		t.Errorf("Last() = %d, want 8000", l.Last())
	}
}
