package failover

import (
	"testing"
	"time"

	"github.com/failover-dns/failover/events"
	"github.com/failover-dns/failover/health"
)

// TestEventsOnceDuringReload: while a reload overlaps two configurations,
// both hear the same probe rounds, but only the newest records the event;
// if the newer one is swept (a failed reload), the running one speaks again.
func TestEventsOnceDuringReload(t *testing.T) {
	clk := newFakeClock()
	handler := func() (*Failover, *pool) {
		c := testConfig(1, 2)
		c.names = []string{"reload.example.org."}
		c.finish()
		p := newPool(c, nil, clk)
		dropSeries(t, p)
		f := &Failover{pools: []*pool{p}}
		f.gen = books.New()
		f.gen.Handlers = []*Failover{f}
		books.Enter(f.gen, false)
		return f, p
	}
	oldF, oldP := handler()
	newF, newP := handler()
	t.Cleanup(func() {
		books.Leave(oldF.gen)
		books.Leave(newF.gen)
		muteOlder()
	})
	muteOlder()
	count := func(from uint64) int {
		list, _ := eventLog.Since(from, 0)
		n := 0
		for _, e := range list {
			if e.Pool == "reload.example.org." && e.Type == events.TypeTargetDown {
				n++
			}
		}
		return n
	}
	from := eventLog.Last()
	down := health.Update{State: health.Down, Since: clk.Now(), Changed: true, Result: health.Result{Reason: health.ReasonRefused}}
	oldP.observe(0, down)
	newP.observe(0, down)
	if n := count(from); n != 1 {
		t.Errorf("Both configurations heard the target go down: %d events, want 1", n)
	}

	books.Leave(newF.gen) // the newer configuration failed and was swept
	muteOlder()
	from = eventLog.Last()
	clk.advance(time.Second)
	oldP.observe(1, health.Update{State: health.Down, Since: clk.Now(), Changed: true, Result: health.Result{Reason: health.ReasonRefused}})
	if n := count(from); n != 1 {
		t.Errorf("After the newer configuration was swept: %d events from the running one, want 1", n)
	}
}
