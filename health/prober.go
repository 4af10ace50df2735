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
	Reason string
	// Check names the check as the Corefile gives it: scheme://host[:port]/path
	// of its URL, without the query string, which may carry a token.
	Check string
	// Addr is the address and port the probe went to (port 0 for icmp).
	Addr netip.AddrPort
	// Detail says what failed in words an operator can act on: the
	// underlying error ("connect: connection refused", a certificate name
	// mismatch) or what the reply lacked ("status 503, want 200-299"). It
	// never holds body bytes or header values, which may be secrets, and
	// is at most MaxDetail bytes. Empty on success.
	Detail string
	// Duration is how long the whole probe took.
	Duration time.Duration
	// RTT is the part of a successful probe that measures the target's
	// responsiveness, as each check type defines it (each prober's Probe
	// says how: the connect, the TLS handshake, the first byte of an HTTP
	// response, a DNS or gRPC answer); 0 when the prober does not say, and
	// then Duration stands for it (see measuredRTT).
	RTT time.Duration
}

// measuredRTT is the round-trip time a successful result stands for: what
// its prober measured, or else its whole duration.
func (r Result) measuredRTT() time.Duration {
	if r.RTT > 0 {
		return r.RTT
	}
	return r.Duration
}

// A Prober checks one destination. Probe must honour ctx's deadline and
// must be safe for concurrent use by many targets. Check.Probe fills in the
// result's Check and Addr and caps its Detail.
type Prober interface {
	Probe(ctx context.Context, dst netip.AddrPort) Result
	// Close releases idle connections and other resources.
	Close()
}

func success(start time.Time) Result { return Result{OK: true, Duration: time.Since(start)} }

// successRTT is a success whose round-trip time is rtt, the part of the
// probe that its check type measures.
func successRTT(start time.Time, rtt time.Duration) Result {
	return Result{OK: true, Duration: time.Since(start), RTT: rtt}
}

// failure is a failed probe with a reason from the fixed set and a detail
// that never quotes the peer's bytes.
func failure(start time.Time, reason, detail string) Result {
	return Result{Reason: reason, Detail: detail, Duration: time.Since(start)}
}

// failed is a probe that failed with err.
func failed(start time.Time, err error) Result {
	return failure(start, reasonFor(err), detailFor(err))
}

// aLongTimeAgo is a deadline that has passed: setting it wakes a waiter.
var aLongTimeAgo = time.Unix(1, 0)

// resettingDialer dials TCP connections that close with a reset
// (SO_LINGER 0), as HAProxy's checks do: thousands of probes a second must
// not leave thousands of sockets in TIME_WAIT on the prober.
type resettingDialer struct{ net.Dialer }

// dial connects to dst. Probes dial with dialProbe, which allocates less;
// this is for connections that are kept (the connection watch). (Not
// net.Dialer.DialTCP: given no local address it binds to 0.0.0.0:0 before
// connecting, which takes an ephemeral port from the half of the range bind
// uses, exclusively; that is the likely cause of the 10,000-target run's
// collapse with it: see BENCHMARKS.md.)
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
