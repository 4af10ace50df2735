package failover

import (
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// client is where a query comes from, as the features that depend on it
// (the hash policy, regions) see it: the EDNS Client Subnet prefix when the
// query carries a valid one, else the source address.
type client struct {
	addr netip.Addr // the ECS address, masked to its prefix; or the source address
	bits int        // the ECS source prefix length; -1 for a source address
	ecs  *dns.EDNS0_SUBNET
}

// clientOf extracts and validates the client of a query once. An ECS
// option whose family, length or prefix is inconsistent is ignored, as if
// the query had none (and is not echoed).
func clientOf(r *dns.Msg, remote net.Addr) client {
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if ecs, ok := o.(*dns.EDNS0_SUBNET); ok {
				if c, ok := ecsClient(ecs); ok {
					return c
				}
				break
			}
		}
	}
	c := client{bits: -1}
	switch a := remote.(type) {
	case *net.UDPAddr:
		c.addr = a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		c.addr = a.AddrPort().Addr().Unmap()
	}
	return c
}

func ecsClient(ecs *dns.EDNS0_SUBNET) (client, bool) {
	var addr netip.Addr
	switch ip := ecs.Address; ecs.Family {
	case 1:
		if ip4 := ip.To4(); ip4 != nil {
			addr = netip.AddrFrom4([4]byte(ip4))
		}
	case 2:
		if len(ip) == net.IPv6len {
			addr = netip.AddrFrom16([16]byte(ip))
		}
	}
	bits := int(ecs.SourceNetmask)
	if !addr.IsValid() || bits > addr.BitLen() {
		return client{}, false
	}
	prefix, _ := addr.Prefix(bits)
	return client{addr: prefix.Addr(), bits: bits, ecs: ecs}, true
}

// hashKey is the bytes the hash policy hashes: the ECS prefix and its
// length, or the source address masked to /24 (IPv4) or /56 (IPv6), so
// that the clients behind one resolver or one site stay together.
func (c client) hashKey(buf []byte) []byte {
	if !c.addr.IsValid() {
		return buf[:0]
	}
	if c.bits >= 0 {
		b, _ := c.addr.AppendBinary(buf[:0])
		return append(b, byte(c.bits))
	}
	bits := 56
	if c.addr.Is4() {
		bits = 24
	}
	prefix, _ := c.addr.Prefix(bits)
	b, _ := prefix.Addr().AppendBinary(buf[:0])
	return b
}
