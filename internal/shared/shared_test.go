package shared

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type thing struct {
	name      string
	destroyed atomic.Int32
	pred      *thing
}

func TestAcquireSharesAndLastReleaseDestroys(t *testing.T) {
	var r Registry[string, *thing]
	made := 0
	create := func(name string) func(View[string, *thing]) (*thing, error) {
		return func(View[string, *thing]) (*thing, error) { made++; return &thing{name: name}, nil }
	}
	a1, _ := r.Acquire("a", create("a"))
	a2, _ := r.Acquire("a", create("a"))
	b, _ := r.Acquire("b", create("b"))
	if a1 != a2 || a1 == b || made != 2 || r.Len() != 2 {
		t.Fatalf("Two acquires of a share one value, b its own: got a1=%p a2=%p b=%p, %d made, %d held", a1, a2, b, made, r.Len())
	}
	destroy := func(th *thing) { th.destroyed.Add(1) }
	if r.Release("a", destroy) || a1.destroyed.Load() != 0 {
		t.Fatal("The first release of a destroyed it; a second user holds it")
	}
	if !r.Release("a", destroy) || a1.destroyed.Load() != 1 || r.Len() != 1 {
		t.Fatalf("The last release of a: want it destroyed once and gone, got destroyed %d, %d held", a1.destroyed.Load(), r.Len())
	}
	if r.Release("a", destroy) || a1.destroyed.Load() != 1 {
		t.Error("Releasing a key no longer held did something")
	}
	a3, _ := r.Acquire("a", create("a"))
	if a3 == a1 || made != 3 {
		t.Error("Acquiring a again after its last release: want a new value")
	}
}

func TestCreateErrorHoldsNothing(t *testing.T) {
	var r Registry[string, *thing]
	_, err := r.Acquire("a", func(View[string, *thing]) (*thing, error) { return nil, errors.New("port in use") })
	if err == nil || r.Len() != 0 {
		t.Fatalf("A failed create: want its error and nothing held, got %v and %d held", err, r.Len())
	}
	if v, err := r.Acquire("a", func(View[string, *thing]) (*thing, error) { return &thing{name: "a"}, nil }); err != nil || v == nil {
		t.Errorf("After a failed create, the next Acquire makes the value: got %v, %v", v, err)
	}
}

// TestTakeOver: a new value finds the one it takes over from through the
// View during create (a fleet whose line changed keeps its member).
func TestTakeOver(t *testing.T) {
	var r Registry[string, *thing]
	old, _ := r.Acquire("member m, lease 10s", func(View[string, *thing]) (*thing, error) { return &thing{name: "m"}, nil })
	next, _ := r.Acquire("member m, lease 20s", func(v View[string, *thing]) (*thing, error) {
		pred, _ := v.Find(func(_ string, th *thing) bool { return th.name == "m" })
		return &thing{name: "m", pred: pred}, nil
	})
	if next.pred != old {
		t.Errorf("The new value's predecessor is %p, want the old one %p", next.pred, old)
	}
	empty := -1
	r.Release("member m, lease 10s", nil)
	r.Release("member m, lease 20s", func(*thing) { r.Do(func(v View[string, *thing]) { empty = v.Len() }) })
	if empty != 0 {
		t.Errorf("Do in the last destroy saw %d values, want 0", empty)
	}
}

// TestConcurrentUse: users of a few keys acquiring and releasing at once
// make each value once per life and destroy it once, and leave nothing.
func TestConcurrentUse(t *testing.T) {
	var r Registry[string, *thing]
	var made, destroyed atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 1000 {
				key := fmt.Sprint((i + j) % 3)
				v, _ := r.Acquire(key, func(View[string, *thing]) (*thing, error) { made.Add(1); return &thing{name: key}, nil })
				if v.name != key {
					t.Errorf("Acquire(%s) gave %s", key, v.name)
				}
				r.Release(key, func(th *thing) {
					if th.destroyed.Add(1) != 1 {
						t.Errorf("Value %s destroyed twice", th.name)
					}
					destroyed.Add(1)
				})
			}
		})
	}
	wg.Wait()
	if r.Len() != 0 || made.Load() != destroyed.Load() {
		t.Errorf("After every release: %d held, %d made, %d destroyed; want none held, as many destroyed as made", r.Len(), made.Load(), destroyed.Load())
	}
}

// TestReleaseLockedDestroysBeforeTheNextAcquire: a destroy under the lock
// is over before anyone can make the key's value again.
func TestReleaseLockedDestroysBeforeTheNextAcquire(t *testing.T) {
	var r Registry[string, *thing]
	mk := func(View[string, *thing]) (*thing, error) { return &thing{name: "a"}, nil }
	a, _ := r.Acquire("a", mk)
	r.Acquire("a", mk)
	if r.ReleaseLocked("a", func(th *thing) { th.destroyed.Add(1) }) || a.destroyed.Load() != 0 {
		t.Fatal("The first of two releases destroyed the value")
	}
	inside := make(chan struct{})
	proceed := make(chan struct{})
	done := make(chan bool)
	go func() {
		done <- r.ReleaseLocked("a", func(th *thing) { close(inside); <-proceed; th.destroyed.Add(1) })
	}()
	<-inside
	acquired := make(chan *thing)
	go func() { v, _ := r.Acquire("a", mk); acquired <- v }()
	select {
	case <-acquired:
		t.Fatal("Acquire went ahead while the last release was destroying")
	case <-time.After(50 * time.Millisecond):
	}
	close(proceed)
	if !<-done {
		t.Error("The last ReleaseLocked did not report it")
	}
	if v := <-acquired; v == a || a.destroyed.Load() != 1 {
		t.Errorf("After the destroy: want a new value and the old destroyed once, got same=%v destroyed %d", v == a, a.destroyed.Load())
	}
}
