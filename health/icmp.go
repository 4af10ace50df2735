package health

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

// icmpProber is healthy when the target answers an ICMP (or ICMPv6) echo
// request. It uses pro-bing: raw ICMP sockets when the process may open them
// (root or CAP_NET_RAW), otherwise unprivileged datagram ICMP sockets, which
// Linux allows only to groups in net.ipv4.ping_group_range.
type icmpProber struct {
	privileged bool
}

var (
	rawICMPOnce sync.Once
	rawICMP     bool
)

// canUseRawICMP reports whether this process may open raw ICMP sockets.
func canUseRawICMP() bool {
	rawICMPOnce.Do(func() {
		if c, err := net.ListenPacket("ip4:icmp", "127.0.0.1"); err == nil {
			c.Close()
			rawICMP = true
		}
	})
	return rawICMP
}

func newICMPProber() *icmpProber {
	return &icmpProber{privileged: canUseRawICMP()}
}

func (p *icmpProber) Probe(ctx context.Context, dst netip.AddrPort) Result {
	start := time.Now()
	pinger := probing.New("")
	addr := dst.Addr()
	pinger.SetIPAddr(&net.IPAddr{IP: net.IP(addr.AsSlice())})
	if addr.Is4() {
		pinger.SetNetwork("ip4")
	} else {
		pinger.SetNetwork("ip6")
	}
	pinger.SetPrivileged(p.privileged)
	pinger.Count = 1
	pinger.Interval = 10 * time.Millisecond
	pinger.Timeout = time.Second
	if deadline, ok := ctx.Deadline(); ok {
		pinger.Timeout = time.Until(deadline)
	}
	if err := pinger.RunWithContext(ctx); err != nil {
		return failed(start, err)
	}
	if pinger.Statistics().PacketsRecv == 0 {
		return failure(start, ReasonTimeout, "no echo reply")
	}
	return success(start)
}

func (p *icmpProber) Close() {}
