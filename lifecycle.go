package failover

import (
	"context"
	"fmt"
	"sync"

	"github.com/coredns/caddy"
	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/health"
	"github.com/failover-dns/failover/internal/reload"
	"github.com/failover-dns/failover/status"
)

// A generation is the failover handlers of one caddy instance: one load of
// the Corefile. caddy runs a new instance's OnStartup before it starts that
// instance's servers; when starting them fails (a port in use, say), it
// drops the instance without calling OnShutdown, and removes it from
// caddy.Instances(). A started generation whose instance is no longer
// listed has therefore failed (or stopped), and sweep stops what it
// acquired. Sweeps run when a reload fails (OnRestartFailed of the
// instance that keeps running) and whenever a generation starts, which
// catches a failed reload of a Corefile that had no failover before.
type generation = reload.Generation[*Failover]

// books are the process's generations.
var books reload.Books[*Failover]

type generationKey struct{}

// generationOf returns the generation of the instance c is setting up.
func generationOf(c *caddy.Controller) *generation {
	if g, ok := c.Get(generationKey{}).(*generation); ok {
		return g
	}
	g := books.New()
	c.Set(generationKey{}, g)
	return g
}

// listedGenerations returns the generations of the instances caddy lists.
func listedGenerations() map[*generation]bool {
	out := map[*generation]bool{}
	for _, inst := range caddy.Instances() {
		inst.StorageMu.RLock()
		if g, ok := inst.Storage[generationKey{}].(*generation); ok {
			out[g] = true
		}
		inst.StorageMu.RUnlock()
	}
	return out
}

// sweep stops every started generation whose instance caddy dropped.
func sweep() error {
	listed := listedGenerations()
	dead, live := books.Sweep(func(g *generation) bool { return listed[g] })
	for _, g := range dead {
		for _, f := range g.Handlers {
			f.OnShutdown()
		}
	}
	if len(dead) > 0 {
		muteOlder()
		// A dead generation's start cleared its pools' override series, which
		// the running configuration shares: say them again.
		for _, f := range live {
			if f.isStarted() {
				for _, p := range f.pools {
					p.exportOverrides()
				}
			}
		}
	}
	return nil
}

// OnStartup starts probing. caddy calls it before the instance's servers
// start; if they then fail to start, sweep undoes it.
func (f *Failover) OnStartup() error {
	sweep()
	if err := f.fleetConflict(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		return nil
	}
	f.enterGeneration()
	// Before the pools start, so that their first events are sent.
	f.startNotifiers()
	muteOlder()
	f.startPools()
	if o := f.overrides; o != nil {
		ctx, cancel := context.WithCancel(context.Background())
		o.cancel = cancel
		o.wg.Go(func() { o.watch(ctx, f.applyOverrides) })
	}
	f.started = true
	if f.status != nil {
		// A listener that cannot open fails the load (caddy then drops this
		// configuration, and sweep stops what it started).
		srv, err := status.Acquire(*f.status, processStatus{})
		if err != nil {
			return fmt.Errorf("status listener %s: %v", f.status.Addr, err)
		}
		f.statusSrv = srv
	}
	return nil
}

// enterGeneration records that a handler of f's generation started (none:
// a test controller's, never swept).
func (f *Failover) enterGeneration() {
	if f.gen != nil {
		books.Enter(f.gen, listedGenerations()[f.gen])
	}
}

// startPools joins the fleet, if any, and starts the pools, each taking
// over what the configuration it replaces showed of it. Called with f.mu held.
func (f *Failover) startPools() {
	prev := f.previous()
	running := health.Running()
	if f.fleet != nil {
		f.member = fleet.Acquire(*f.fleet)
	}
	for _, p := range f.pools {
		p.member = f.member
		p.inherit(prev.poolNamed(p.name))
		p.start()
	}
	f.logStart(prev, health.Running()-running)
}

// applyOverrides hands a newly read overrides file to every pool.
func (f *Failover) applyOverrides() {
	for _, p := range f.pools {
		p.applyOverrides(true)
	}
}

// OnShutdown stops probing; it returns once every probe goroutine that no
// newer configuration shares has ended. It is safe to call more than once.
func (f *Failover) OnShutdown() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started {
		return nil
	}
	if o := f.overrides; o != nil {
		o.cancel()
		o.wg.Wait()
	}
	if f.statusSrv != nil {
		f.statusSrv.Release()
		f.statusSrv = nil
	}
	for _, p := range f.pools {
		p.stop()
	}
	if f.member != nil {
		f.member.Release()
		f.member = nil
	}
	f.stopNotifiers()
	f.started = false
	if f.gen != nil {
		books.Leave(f.gen)
	}
	return nil
}

// logStart logs what this server block's start did: its pools and targets,
// and the probe loops it took over from running ones, started, and leaves
// to stop with the configuration it replaces. Called with f.mu held.
func (f *Failover) logStart(prev *Failover, startedLoops int) {
	mine := f.monitorSet()
	targets := 0
	for _, p := range f.pools {
		targets += len(p.targets)
	}
	stopping := 0
	if prev != nil {
		for m := range prev.monitorSet() {
			if !mine[m] {
				stopping++
			}
		}
	}
	f.emitConfigLoaded(prev)
	logVersion.Do(func() { log.Infof("failover %s", version()) })
	log.Infof("Server block %s: %d pools, %d targets; probe loops: %d kept, %d started, %d to stop",
		f.block, len(f.pools), targets, len(mine)-startedLoops, startedLoops, stopping)
}

// logVersion logs the plugin's version once per process, at the first start.
var logVersion sync.Once

// monitorSet returns the distinct sources of health the handler's pools use.
func (f *Failover) monitorSet() map[targetSource]bool {
	set := map[targetSource]bool{}
	for _, p := range f.pools {
		for _, src := range p.sourceList() {
			set[src] = true
		}
	}
	return set
}

// previous returns the running handler of another generation for the same
// server block: the one this handler replaces on a reload.
func (f *Failover) previous() *Failover {
	// The books are unlocked before a handler's lock is taken: OnStartup
	// takes them the other way round.
	candidates := books.Others(f.gen, func(h *Failover) bool { return h.block == f.block })
	for _, h := range candidates {
		if h.isStarted() {
			return h
		}
	}
	return nil
}

func (f *Failover) isStarted() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started
}

// muteOlder lets only the newest configuration's pools record events: during
// a reload both configurations hear the same probe rounds, and each event
// must be recorded (and notified) once. A failed reload's sweep calls it
// again, which gives the running configuration its voice back.
func muteOlder() {
	newest, all := books.Newest()
	for _, g := range all {
		for _, h := range g.Handlers {
			for _, p := range h.pools {
				p.muted.Store(g != newest)
			}
		}
	}
}

// newestHandlers returns the started handlers of the newest started
// generation: what the status listener shows, even while a reload overlaps
// two configurations.
func newestHandlers() []*Failover {
	newest, _ := books.Newest()
	if newest == nil {
		return nil
	}
	return newest.Handlers
}

// poolNamed returns the handler's pool of that name, or nil (also for a nil handler).
func (f *Failover) poolNamed(name string) *pool {
	if f == nil {
		return nil
	}
	for _, p := range f.pools {
		if p.name == name {
			return p
		}
	}
	return nil
}

// fleetConflict refuses a configuration whose server blocks make this
// process the same fleet member with different fleet lines: it can be
// that member once (a reload that changes the line is another matter:
// the new configuration takes the member over).
func (f *Failover) fleetConflict() error {
	if f.fleet == nil || f.gen == nil {
		return nil
	}
	for _, h := range f.gen.Handlers {
		if h != f && h.fleet != nil && h.fleet.Conflicts(*f.fleet) {
			return fmt.Errorf("server blocks %s and %s give member %s of the fleet under %s different fleet lines: give every server block of a replica the same fleet line",
				h.block, f.block, f.fleet.Member, f.fleet.Prefix)
		}
	}
	return nil
}
