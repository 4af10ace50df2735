// Package health probes targets and decides whether they are up. It knows
// nothing of DNS answers: callers get a State per target and do with it what
// they like.
package health

import (
	"context"
	"net/netip"
	"time"
)

// Result is the outcome of one probe.
type Result struct {
	OK bool
	// Reason says briefly why a probe failed ("refused", "timeout", "tls",
	// "status_503", ...). It is empty on success and comes from a small,
	// bounded set so that it can be used as a metric label.
	Reason   string
	Duration time.Duration
}

// A Prober checks one destination. Probe must honour ctx's deadline and
// must be safe for concurrent use by many targets.
type Prober interface {
	Probe(ctx context.Context, dst netip.AddrPort) Result
	// Close releases idle connections and other resources.
	Close()
}

func success(start time.Time) Result { return Result{OK: true, Duration: time.Since(start)} }

func failure(start time.Time, reason string) Result {
	return Result{Reason: reason, Duration: time.Since(start)}
}
