//go:build !linux

package health

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// dialProbe connects to dst for one probe, with a reset on close, and gives
// up at ctx's deadline, at timeout (if not 0) or when ctx is cancelled. On
// Linux it skips net.Dialer's address parsing (dial_linux.go).
func dialProbe(ctx context.Context, dst netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	d := resettingDialer{net.Dialer{Timeout: timeout}}
	return d.DialContext(ctx, "tcp", dst.String())
}

// dialUDP makes a UDP socket connected to dst.
func dialUDP(dst netip.AddrPort) (net.Conn, error) {
	return net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
}
