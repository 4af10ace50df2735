package events

import (
	"fmt"
	"testing"
)

// Once the ring is full, Append allocates nothing, with or without
// subscribers, whether they have room or drop.
func TestAppendAllocatesNothingWhenFull(t *testing.T) {
	for _, subs := range []int{0, 3} {
		l := NewLog(64, nil)
		appendN(l, 64)
		for range subs {
			defer l.Subscribe(32).Close()
		}
		e := Event{Type: TypeTargetDown, Pool: "web", Target: "192.0.2.1", Reason: "timeout"}
		if got := testing.AllocsPerRun(100, func() { l.Append(e) }); got != 0 {
			t.Errorf("With %d subscribers, Append allocates %.1f times, want 0", subs, got)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, subs := range []int{0, 1, 4} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			l := NewLog(DefaultCapacity, nil)
			for range subs {
				s := l.Subscribe(DefaultBuffer) // never read: each fills, then drops
				defer s.Close()
			}
			e := Event{Type: TypeTargetDown, Pool: "web", Target: "192.0.2.1", Check: "tcp://192.0.2.1:80", Reason: "timeout"}
			b.ReportAllocs()
			for b.Loop() {
				l.Append(e)
			}
		})
	}
}
