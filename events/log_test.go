package events

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves one second each time it is read.
type fakeClock struct{ now time.Time }

func (c *fakeClock) read() time.Time {
	c.now = c.now.Add(time.Second)
	return c.now
}

// appendN appends n events of type target_up and returns their IDs.
func appendN(l *Log, n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = l.Append(Event{Type: TypeTargetUp, Target: fmt.Sprint(i)}).ID
	}
	return ids
}

// ids lists the IDs of events.
func ids(events []Event) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// span lists the IDs from first to last.
func span(first, last uint64) []uint64 {
	var out []uint64
	for id := first; id <= last; id++ {
		out = append(out, id)
	}
	return out
}

func TestIDsMonotonicAcrossWrap(t *testing.T) {
	l := NewLog(3, nil)
	if got := appendN(l, 10); !slices.Equal(got, span(1, 10)) {
		t.Fatalf("Append gave IDs %v, want 1 to 10", got)
	}
	events, oldest := l.Since(0, 0)
	if !slices.Equal(ids(events), []uint64{8, 9, 10}) || oldest != 8 {
		t.Errorf("After 10 events in a ring of 3, Since(0, 0) = %v, oldest %d; want [8 9 10], oldest 8", ids(events), oldest)
	}
	for i, e := range events {
		if want := fmt.Sprint(7 + i); e.Target != want {
			t.Errorf("Event %d holds target %q, want %q: the ring mixed up its slots", e.ID, e.Target, want)
		}
	}
	if l.Last() != 10 {
		t.Errorf("Last() = %d, want 10", l.Last())
	}
}

func TestSince(t *testing.T) {
	wrapped := NewLog(5, nil) // holds 8 to 12
	appendN(wrapped, 12)
	partial := NewLog(5, nil) // holds 1 to 3
	appendN(partial, 3)
	tests := []struct {
		name       string
		log        *Log
		id         uint64
		limit      int
		want       []uint64
		wantOldest uint64
	}{
		{"empty", NewLog(5, nil), 0, 0, nil, 0},
		{"partial, all", partial, 0, 0, span(1, 3), 1},
		{"partial, after 1", partial, 1, 0, span(2, 3), 1},
		{"partial, limit 2", partial, 0, 2, span(1, 2), 1},
		{"wrapped, all", wrapped, 0, 0, span(8, 12), 8},
		{"wrapped, after a dropped ID", wrapped, 5, 0, span(8, 12), 8},
		{"wrapped, after the oldest", wrapped, 8, 0, span(9, 12), 8},
		{"wrapped, after 9, limit 2", wrapped, 9, 2, span(10, 11), 8},
		{"wrapped, limit above capacity", wrapped, 0, 1000, span(8, 12), 8},
		{"wrapped, negative limit", wrapped, 0, -1, span(8, 12), 8},
		{"wrapped, newest two", wrapped, wrapped.Last() - 2, 2, span(11, 12), 8},
		{"wrapped, after the newest", wrapped, 12, 0, nil, 8},
		{"wrapped, after an ID not yet given", wrapped, 99, 0, nil, 8},
	}
	for _, tc := range tests {
		events, oldest := tc.log.Since(tc.id, tc.limit)
		if !slices.Equal(ids(events), tc.want) || oldest != tc.wantOldest {
			t.Errorf("%s: Since(%d, %d) = %v, oldest %d; want %v, oldest %d", tc.name, tc.id, tc.limit, ids(events), oldest, tc.want, tc.wantOldest)
		}
	}
}

func TestDefaultCapacity(t *testing.T) {
	l := NewLog(0, nil)
	appendN(l, DefaultCapacity+5)
	events, oldest := l.Since(0, 0)
	if len(events) != DefaultCapacity || oldest != 6 {
		t.Errorf("A default Log holds %d events from %d, want %d from 6", len(events), oldest, DefaultCapacity)
	}
	if cap(l.ring) != DefaultCapacity {
		t.Errorf("A default Log's ring has room for %d events, want exactly %d", cap(l.ring), DefaultCapacity)
	}
}

func TestAppendStampsTime(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	l := NewLog(10, clock.read)
	first := l.Append(Event{Type: TypeTargetUp})
	given := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	second := l.Append(Event{Type: TypeTargetUp, Time: given})
	if want := time.Date(2026, 5, 1, 12, 0, 1, 0, time.UTC); !first.Time.Equal(want) {
		t.Errorf("An event without a time got %v, want the clock's %v", first.Time, want)
	}
	if !second.Time.Equal(given) {
		t.Errorf("An event with a time got %v, want its own %v", second.Time, given)
	}
	stored, _ := l.Since(0, 0)
	if !reflect.DeepEqual(stored, []Event{first, second}) {
		t.Errorf("Stored %+v, want what Append returned: %+v", stored, []Event{first, second})
	}
}

func TestConcurrentAppend(t *testing.T) {
	const writers, each = 16, 500
	l := NewLog(writers*each, nil)
	got := make([][]uint64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			got[w] = appendN(l, each)
			if !slices.IsSorted(got[w]) {
				t.Errorf("Writer %d got IDs out of order", w)
			}
		})
		wg.Go(func() { l.Since(uint64(w), 10) }) // readers race the writers
	}
	wg.Wait()
	all := slices.Sorted(slices.Values(slices.Concat(got...)))
	if !slices.Equal(all, span(1, writers*each)) {
		t.Errorf("%d writers of %d events got IDs that are not 1 to %d, each once", writers, each, writers*each)
	}
	events, _ := l.Since(0, 0)
	if !slices.Equal(ids(events), span(1, writers*each)) {
		t.Errorf("Since(0, 0) returned %d events, not 1 to %d in order", len(events), writers*each)
	}
}

// bigEvent is an answer_changed event of a pool of n targets.
func bigEvent(n int) Event {
	e := Event{Type: TypeAnswerChanged, Pool: "big.example.org.", Family: "A"}
	for i := range n {
		e.Old = append(e.Old, fmt.Sprintf("192.0.%d.%d", i/256, i%256))
	}
	e.New = e.Old[1:]
	return e
}

// TestLogBoundedByBytes: large events evict the oldest past the byte
// budget, well before the count bound, and the newest event is kept even
// when it alone exceeds the budget.
func TestLogBoundedByBytes(t *testing.T) {
	big := bigEvent(1000)
	size := EstimatedSize(big)
	if size < 2*1000*len("192.0.0.0") {
		t.Fatalf("EstimatedSize of an event with 2,000 addresses is %d bytes, less than their text", size)
	}
	budget := 10*size + 4096 // ten large events, and room for a few small ones
	l := NewLogSized(1000, budget, nil)
	for range 300 {
		l.Append(big)
		if held := l.HeldBytes(); held > budget {
			t.Fatalf("After %d events the Log holds %d bytes, over its budget of %d", l.Last(), held, budget)
		}
	}
	events, oldest := l.Since(0, 0)
	if len(events) != 10 || oldest != 291 || !slices.Equal(ids(events), span(291, 300)) {
		t.Errorf("A budget of 10 large events holds %v (oldest %d), want 291 to 300", ids(events), oldest)
	}
	small := Event{Type: TypeTargetUp, Pool: "web", Target: "192.0.2.1"}
	appendN(l, 5)
	if events, _ := l.Since(0, 0); len(events) != 15 || events[0].ID != 291 {
		t.Errorf("Small events after large ones: held %v, want the 10 large ones kept and 5 more", ids(events))
	}
	if EstimatedSize(small) >= size/100 {
		t.Errorf("A small event is estimated at %d bytes, a large one at %d", EstimatedSize(small), size)
	}

	tiny := NewLogSized(10, size/2, nil)
	tiny.Append(small)
	tiny.Append(big)
	if events, oldest := tiny.Since(0, 0); len(events) != 1 || events[0].ID != 2 || oldest != 2 {
		t.Errorf("An event larger than the budget: held %v (oldest %d), want it alone", ids(events), oldest)
	}
	tiny.Append(small)
	if events, _ := tiny.Since(0, 0); !slices.Equal(ids(events), []uint64{3}) || tiny.HeldBytes() > size/2 {
		t.Errorf("After it: held %v in %d bytes, want only the newest", ids(events), tiny.HeldBytes())
	}
}

// TestLogCountBoundWithBytes: small events are still bounded by count,
// across wraps, with the byte count following what is held.
func TestLogCountBoundWithBytes(t *testing.T) {
	l := NewLogSized(5, 1<<20, nil)
	appendN(l, 23)
	events, oldest := l.Since(0, 0)
	if !slices.Equal(ids(events), span(19, 23)) || oldest != 19 {
		t.Errorf("Count bound 5 after 23 events: %v (oldest %d), want 19 to 23", ids(events), oldest)
	}
	want := 0
	for _, e := range events {
		want += EstimatedSize(e)
	}
	if l.HeldBytes() != want {
		t.Errorf("HeldBytes = %d, want %d, the sum over the events held", l.HeldBytes(), want)
	}
}
