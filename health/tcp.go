package health

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// tcpProber is healthy when a TCP connection to the target's address and
// port is accepted.
type tcpProber struct {
	port   uint16
	dialer net.Dialer
}

func newTCPProber(port uint16, timeout time.Duration) *tcpProber {
	return &tcpProber{port: port, dialer: net.Dialer{Timeout: timeout}}
}

func (p *tcpProber) Probe(ctx context.Context, addr netip.Addr) Result {
	start := time.Now()
	conn, err := p.dialer.DialContext(ctx, "tcp", net.JoinHostPort(addr.String(), strconv.Itoa(int(p.port))))
	if err != nil {
		return failure(start, reasonFor(err))
	}
	conn.Close()
	return success(start)
}

func (p *tcpProber) Close() {}
