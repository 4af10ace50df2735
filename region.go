package failover

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/coredns/coredns/plugin/metadata"

	"github.com/miekg/dns"
)

// region is a named set of client networks and geoip places whose clients
// prefer the targets tagged with the region.
type region struct {
	name       string
	prefixes   []netip.Prefix
	countries  []string // geoip/country/code values
	continents []string // geoip/continent/code values
}

// parseRegion reads 'region NAME MATCH...' where MATCH is a CIDR,
// country:CC or continent:CC.
func parseRegion(args []string) (*region, error) {
	const usage = "write 'region NAME MATCH...' with MATCH a client network (192.0.2.0/24), country:CC or continent:CC"
	if len(args) < 2 {
		return nil, fmt.Errorf("region needs a name and at least one match: %s", usage)
	}
	r := &region{name: args[0]}
	for _, m := range args[1:] {
		switch {
		case strings.HasPrefix(m, "country:"):
			r.countries = append(r.countries, strings.ToUpper(strings.TrimPrefix(m, "country:")))
		case strings.HasPrefix(m, "continent:"):
			r.continents = append(r.continents, strings.ToUpper(strings.TrimPrefix(m, "continent:")))
		default:
			p, err := netip.ParsePrefix(m)
			if err != nil {
				return nil, fmt.Errorf("region %s: '%s' is not a network, country: or continent: match: %s", r.name, m, usage)
			}
			r.prefixes = append(r.prefixes, p.Masked())
		}
	}
	return r, nil
}

// clientRegion returns the index of the region a query's client belongs to,
// or -1: the region with the longest prefix containing the client's address
// (the EDNS Client Subnet address when the query has one), else the first
// region whose country or continent the geoip plugin's metadata names. It
// also returns the ECS option the choice was based on, if any.
func (p *pool) clientRegion(ctx context.Context, r *dns.Msg, remote net.Addr) (int, *dns.EDNS0_SUBNET) {
	addr, ecs := clientAddr(r, remote)
	best, bestBits := -1, -1
	if addr.IsValid() {
		for i, reg := range p.regions {
			for _, pre := range reg.prefixes {
				if pre.Bits() > bestBits && pre.Contains(addr) {
					best, bestBits = i, pre.Bits()
				}
			}
		}
	}
	if best >= 0 || !p.geoRegions {
		return best, ecs
	}
	country, continent := metaValue(ctx, "geoip/country/code"), metaValue(ctx, "geoip/continent/code")
	for i, reg := range p.regions {
		for _, c := range reg.countries {
			if c == country {
				return i, ecs
			}
		}
		for _, c := range reg.continents {
			if c == continent {
				return i, ecs
			}
		}
	}
	return -1, ecs
}

func metaValue(ctx context.Context, key string) string {
	if f := metadata.ValueFunc(ctx, key); f != nil {
		return strings.ToUpper(f())
	}
	return ""
}

// clientAddr is the ECS address of the query if it has one, else the source address.
func clientAddr(r *dns.Msg, remote net.Addr) (netip.Addr, *dns.EDNS0_SUBNET) {
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if ecs, ok := o.(*dns.EDNS0_SUBNET); ok {
				if a, ok := netip.AddrFromSlice(ecs.Address); ok {
					return a.Unmap(), ecs
				}
			}
		}
	}
	switch a := remote.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap(), nil
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap(), nil
	}
	return netip.Addr{}, nil
}

// chooseRegional builds the answer for clients of region reg: the UP
// targets of that region's best tier with enough of them, or nil when the
// region has none, so that its clients get the pool's global answer.
func (p *pool) chooseRegional(reg int, idx []int) *answer {
	var mine []int
	for _, i := range idx {
		if p.targets[i].region == reg && p.forced[i] != overrideDrain {
			mine = append(mine, i)
		}
	}
	for start := 0; start < len(mine); {
		prio := p.targets[mine[start]].priority
		end := start
		var up []int
		for ; end < len(mine) && p.targets[mine[end]].priority == prio; end++ {
			if p.up(mine[end]) {
				up = append(up, mine[end])
			}
		}
		if len(up) > 0 && len(up) >= p.needed(end-start) {
			return p.answerOf(up, resultHealthy)
		}
		start = end
	}
	return nil
}
