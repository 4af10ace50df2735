package reload

import (
	"slices"
	"testing"
)

type handler struct{ block string }

// TestReloadOverlapsThenOldStops: a reload starts the new generation while
// the old runs; the new is the newest, its handler replaces the old one of
// the same block, and when the old stops only the new remains.
func TestReloadOverlapsThenOldStops(t *testing.T) {
	var b Books[*handler]
	old := b.New()
	oldH := &handler{"example.org:53"}
	old.Handlers = append(old.Handlers, oldH)
	b.Enter(old, true)
	next := b.New()
	nextH, other := &handler{"example.org:53"}, &handler{"example.net:53"}
	next.Handlers = append(next.Handlers, nextH, other)
	b.Enter(next, true)
	b.Enter(next, true)

	if newest, all := b.Newest(); newest != next || len(all) != 2 {
		t.Fatalf("During the reload: newest %p of %d, want the new generation %p of 2", newest, len(all), next)
	}
	replaced := b.Others(next, func(h *handler) bool { return h.block == nextH.block })
	if !slices.Equal(replaced, []*handler{oldH}) {
		t.Errorf("The new handler replaces %v, want the old one of its block", replaced)
	}
	if got := b.Others(next, func(h *handler) bool { return h.block == other.block }); len(got) != 0 {
		t.Errorf("A block new in this load replaces %v, want none", got)
	}
	b.Leave(old)
	if newest, all := b.Newest(); newest != next || len(all) != 1 {
		t.Errorf("After the old stopped: newest %p of %d, want the new alone", newest, len(all))
	}
	b.Leave(next)
	if _, all := b.Newest(); len(all) != 1 {
		t.Error("One of the new generation's two handlers stopped: want it still started")
	}
	b.Leave(next)
	b.Leave(next) // once more: nothing
	if newest, all := b.Newest(); newest != nil || len(all) != 0 {
		t.Errorf("Every handler stopped: want nothing started, got %p and %d", newest, len(all))
	}
}

// TestSweepFailedReload: the server drops a new generation whose servers
// failed to start without stopping it; the sweep hands it over for
// stopping, keeps the running one, and never sweeps a never-listed one.
func TestSweepFailedReload(t *testing.T) {
	var b Books[*handler]
	running, failed, unlisted := b.New(), b.New(), b.New()
	running.Handlers = []*handler{{"a"}}
	failed.Handlers = []*handler{{"a"}}
	unlisted.Handlers = []*handler{{"test"}}
	b.Enter(running, true)
	b.Enter(failed, true)
	b.Enter(unlisted, false)
	if newest, _ := b.Newest(); newest != unlisted {
		t.Fatal("Want the last made generation the newest")
	}
	listedNow := map[*Generation[*handler]]bool{running: true}
	dead, live := b.Sweep(func(g *Generation[*handler]) bool { return listedNow[g] })
	if !slices.Equal(dead, []*Generation[*handler]{failed}) {
		t.Errorf("Swept %v, want the failed generation alone", dead)
	}
	if len(live) != 2 || !slices.Contains(live, running.Handlers[0]) || !slices.Contains(live, unlisted.Handlers[0]) {
		t.Errorf("Live handlers %v, want the running and the unlisted generation's", live)
	}
	if dead, _ := b.Sweep(func(g *Generation[*handler]) bool { return listedNow[g] }); len(dead) != 0 {
		t.Errorf("A second sweep found %v, want nothing", dead)
	}
	b.Leave(failed) // its handlers' own stop, after the sweep: nothing
	if _, all := b.Newest(); len(all) != 2 {
		t.Errorf("%d generations started, want 2", len(all))
	}
}

// TestListedAtAnyEnter: a generation counts as listed once any of its
// handlers started while the server listed it.
func TestListedAtAnyEnter(t *testing.T) {
	var b Books[*handler]
	g := b.New()
	b.Enter(g, false)
	b.Enter(g, true)
	b.Enter(g, false)
	if dead, _ := b.Sweep(func(*Generation[*handler]) bool { return false }); len(dead) != 1 {
		t.Error("A generation listed at its second start and then dropped: want it swept")
	}
}
