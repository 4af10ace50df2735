package notify

import (
	"sync"

	"github.com/failover-dns/failover/events"
	"github.com/failover-dns/failover/internal/shared"
)

// Handle is one user's hold on a shared Notifier; Release it when done.
type Handle struct {
	n    *Notifier
	key  notifierKey
	once sync.Once
}

// notifierKey names a Notifier: the Log it delivers and its configuration.
type notifierKey struct {
	log *events.Log
	cfg string
}

// notifiers holds the running notifiers, so that every user of one
// configuration on one Log shares one Notifier: several server blocks with
// the same notify line deliver each event once, and a reload that keeps the
// line keeps its Notifier (its queue and connection) running, without a
// moment where two deliver the same event.
var notifiers shared.Registry[notifierKey, *Notifier]

// Acquire returns a handle on the started Notifier delivering log's events
// with cfg, starting one if none runs.
func Acquire(cfg Config, log *events.Log) *Handle {
	cfg = cfg.withDefaults()
	key := notifierKey{log: log, cfg: cfg.key()}
	n, _ := notifiers.Acquire(key, func(shared.View[notifierKey, *Notifier]) (*Notifier, error) {
		n := New(cfg)
		n.Start(log)
		return n, nil
	})
	return &Handle{n: n, key: key}
}

// Notifier returns the shared Notifier.
func (h *Handle) Notifier() *Notifier { return h.n }

// Release drops the handle; the last one stops the Notifier, and removes
// its queue gauge unless another Notifier reports under the same URL. It
// may be called more than once.
func (h *Handle) Release() {
	h.once.Do(func() { notifiers.Release(h.key, stopShared) })
}

// stopShared stops a Notifier nobody holds any more.
func stopShared(n *Notifier) {
	n.Stop()
	notifiers.Do(func(running shared.View[notifierKey, *Notifier]) {
		if _, found := running.Find(func(_ notifierKey, o *Notifier) bool { return o.label == n.label }); !found {
			queueLength.DeleteLabelValues(n.label)
		}
	})
}

// Running returns how many shared notifiers run.
func Running() int { return notifiers.Len() }
