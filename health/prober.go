// Package health probes targets and decides whether they are up. It knows
// nothing of DNS answers: callers get a State per target and do with it what
// they like.
package health

import (
	"context"
	"net"
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

// resettingDialer dials TCP connections that close with a reset
// (SO_LINGER 0), as HAProxy's checks do: thousands of probes a second must
// not leave thousands of sockets in TIME_WAIT on the prober.
type resettingDialer struct{ net.Dialer }

// dial connects to dst. (net.Dialer.DialTCP would skip the address parsing,
// but with it the 10,000-target benchmark collapsed: see BENCHMARKS.md.)
func (d *resettingDialer) dial(ctx context.Context, dst netip.AddrPort) (*net.TCPConn, error) {
	c, err := d.DialContext(ctx, "tcp", dst.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

func (d *resettingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c, nil
}
