package notify

import (
	"sync"

	"github.com/failover-dns/failover/events"
)

// Handle is one user's hold on a shared Notifier; Release it when done.
type Handle struct {
	n    *Notifier
	once sync.Once
}

// shared is a started Notifier and how many handles hold it.
type shared struct {
	log  *events.Log
	n    *Notifier
	refs int
}

// registry holds the running notifiers, so that every user of one
// configuration on one Log shares one Notifier: several server blocks with
// the same notify line deliver each event once, and a reload that keeps the
// line keeps its Notifier (its queue and connection) running, without a
// moment where two deliver the same event.
var registry = struct {
	sync.Mutex
	all []*shared
}{}

// Acquire returns a handle on the started Notifier delivering log's events
// with cfg, starting one if none runs.
func Acquire(cfg Config, log *events.Log) *Handle {
	cfg = cfg.withDefaults()
	registry.Lock()
	defer registry.Unlock()
	for _, s := range registry.all {
		if s.log == log && s.n.cfg.equal(cfg) {
			s.refs++
			return &Handle{n: s.n}
		}
	}
	n := New(cfg)
	n.Start(log)
	registry.all = append(registry.all, &shared{log: log, n: n, refs: 1})
	return &Handle{n: n}
}

// Notifier returns the shared Notifier.
func (h *Handle) Notifier() *Notifier { return h.n }

// Release drops the handle; the last one stops the Notifier, and removes
// its queue gauge unless another Notifier reports under the same URL. It
// may be called more than once.
func (h *Handle) Release() {
	h.once.Do(func() {
		registry.Lock()
		var last bool
		for i, s := range registry.all {
			if s.n == h.n {
				s.refs--
				if last = s.refs == 0; last {
					registry.all = append(registry.all[:i], registry.all[i+1:]...)
				}
				break
			}
		}
		registry.Unlock()
		if !last {
			return
		}
		h.n.Stop()
		registry.Lock()
		defer registry.Unlock()
		for _, s := range registry.all {
			if s.n.label == h.n.label {
				return
			}
		}
		queueLength.DeleteLabelValues(h.n.label)
	})
}

// Running returns how many shared notifiers run.
func Running() int {
	registry.Lock()
	defer registry.Unlock()
	return len(registry.all)
}
