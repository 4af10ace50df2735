package failover

import (
	"context"
	"net"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/metadata"

	"github.com/miekg/dns"
)

// TestClientRegionFromGeoIP: without a matching network, the geoip
// plugin's metadata picks the region.
func TestClientRegionFromGeoIP(t *testing.T) {
	f, err := parse(caddy.NewTestController("dns", `failover example.org {
		pool www.example.org {
			region eu 198.51.100.0/24 continent:EU
			region us country:US
			target 192.0.2.1 region eu
			target 192.0.2.2 region us
			check tcp://www.example.org:80
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	p := f.pools[0]
	r := new(dns.Msg)
	r.SetQuestion("www.example.org.", dns.TypeA)
	for _, tc := range []struct {
		remote             string
		country, continent string
		want               int
	}{
		{"198.51.100.7", "", "", 0},     // by network
		{"192.0.2.200", "US", "NA", 1},  // by country
		{"192.0.2.200", "FR", "EU", 0},  // by continent
		{"192.0.2.200", "JP", "AS", -1}, // nowhere
		{"192.0.2.200", "", "", -1},     // no geoip metadata
	} {
		ctx := metadata.ContextWithMetadata(context.Background())
		if tc.country != "" {
			metadata.SetValueFunc(ctx, "geoip/country/code", func() string { return tc.country })
			metadata.SetValueFunc(ctx, "geoip/continent/code", func() string { return tc.continent })
		}
		got := p.clientRegion(ctx, clientOf(r, &net.UDPAddr{IP: net.ParseIP(tc.remote), Port: 5353}))
		if got != tc.want {
			t.Errorf("Client %s (%s/%s): region %d, want %d", tc.remote, tc.country, tc.continent, got, tc.want)
		}
	}
}

// TestParseRegionCodes: codes are case-insensitive and stored as the geoip
// plugin reports them.
func TestParseRegionCodes(t *testing.T) {
	r, err := parseRegion([]string{"eu", "country:fr", "continent:eu", "2001:db8:1::/48"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.countries) != 1 || r.countries[0] != "FR" || len(r.continents) != 1 || r.continents[0] != "EU" || len(r.prefixes) != 1 {
		t.Errorf("Region parsed as %+v", r)
	}
}

// TestClientRegionECSPrefixLength: a client subnet shorter than a region's
// network does not match it, since the answer would be cached for the whole
// subnet, other regions included.
func TestClientRegionECSPrefixLength(t *testing.T) {
	f, err := parse(caddy.NewTestController("dns", `failover example.org {
		pool www.example.org {
			region us 203.0.113.0/24
			region wide 203.0.0.0/16
			target 192.0.2.1 region us
			target 192.0.2.2 region wide
			check tcp://www.example.org:80
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	p := f.pools[0]
	for _, tc := range []struct {
		subnet string
		bits   uint8
		want   int
	}{
		{"203.0.113.0", 24, 0},
		{"203.0.113.0", 28, 0},
		{"203.0.0.0", 16, 1}, // not us: the /16 holds other /24s too
		{"203.0.0.0", 8, -1},
	} {
		r := new(dns.Msg)
		r.SetQuestion("www.example.org.", dns.TypeA)
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		opt.Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: tc.bits, Address: net.ParseIP(tc.subnet).To4()}}
		r.Extra = []dns.RR{opt}
		got := p.clientRegion(context.Background(), clientOf(r, &net.UDPAddr{IP: net.ParseIP("192.0.2.200"), Port: 5353}))
		if got != tc.want {
			t.Errorf("ECS %s/%d: region %d, want %d", tc.subnet, tc.bits, got, tc.want)
		}
	}
}
