package failover

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/metadata"
	"github.com/failover-dns/failover/internal/suggest"
	"golang.org/x/text/language"
)

// region is a named set of client networks and geoip places whose clients
// prefer the targets tagged with the region.
type region struct {
	name       string
	prefixes   []netip.Prefix
	countries  []string // geoip/country/code values
	continents []string // geoip/continent/code values
	line       int      // of its region line, for warnings
}

// geoMatches reports whether the region matches by the geoip plugin's
// metadata.
func (r *region) geoMatches() bool { return len(r.countries)+len(r.continents) > 0 }

// continentCodes are the continent codes the geoip plugin reports
// (geoip/continent/code).
var continentCodes = []string{"AF", "AN", "AS", "EU", "NA", "OC", "SA"}

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
			cc, err := countryCode(strings.TrimPrefix(m, "country:"))
			if err != nil {
				return nil, fmt.Errorf("region %s: '%s' %v", r.name, m, err)
			}
			r.countries = append(r.countries, cc)
		case strings.HasPrefix(m, "continent:"):
			cc := strings.ToUpper(strings.TrimPrefix(m, "continent:"))
			if !slices.Contains(continentCodes, cc) {
				var guess string
				if s := suggest.Closest(cc, continentCodes); s != "" {
					guess = " (did you mean 'continent:" + s + "'?)"
				}
				return nil, fmt.Errorf("region %s: '%s' is not a continent code%s: write continent:CC with CC one of %s",
					r.name, m, guess, oneOf(continentCodes))
			}
			r.continents = append(r.continents, cc)
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

// clientRegion returns the index of the region a query's client belongs
// to, or -1: the region with the longest prefix containing the client's
// address (the EDNS Client Subnet prefix when the query has one, if it is
// at least as long as the region's), else the
// first region whose country or continent the geoip plugin's metadata names.
func (c *poolConfig) clientRegion(ctx context.Context, cl client) int {
	best, bestBits := -1, -1
	if cl.addr.IsValid() {
		for i, reg := range c.regions {
			for _, pre := range reg.prefixes {
				// An ECS prefix shorter than the region's network says
				// nothing about which part of it the client is in.
				if cl.bits >= 0 && pre.Bits() > cl.bits {
					continue
				}
				if pre.Bits() > bestBits && pre.Contains(cl.addr) {
					best, bestBits = i, pre.Bits()
				}
			}
		}
	}
	if best >= 0 || !c.geoRegions {
		return best
	}
	country, continent := metaValue(ctx, "geoip/country/code"), metaValue(ctx, "geoip/continent/code")
	for i, reg := range c.regions {
		if slices.Contains(reg.countries, country) || slices.Contains(reg.continents, continent) {
			return i
		}
	}
	return -1
}

func metaValue(ctx context.Context, key string) string {
	if f := metadata.ValueFunc(ctx, key); f != nil {
		return strings.ToUpper(f())
	}
	return ""
}

// countryCode validates an ISO 3166-1 alpha-2 country code, in the form the
// geoip plugin reports it (upper case, current codes: GB, not UK).
func countryCode(arg string) (string, error) {
	cc := strings.ToUpper(arg)
	r, err := language.ParseRegion(cc)
	switch {
	case len(cc) != 2 || err != nil || !r.IsCountry():
		return "", fmt.Errorf("is not a two-letter country code: write the ISO 3166-1 alpha-2 code the geoip plugin reports, e.g. country:FR or country:US")
	case r.Canonicalize().String() != cc:
		return "", fmt.Errorf("is an old or alternative code that geoip never reports: write country:%s", r.Canonicalize())
	}
	return cc, nil
}

// warnWithoutGeoIP warns at each region line that matches country: or
// continent: codes when the server block lacks the plugins that look
// clients up (geoip, and metadata that collects its values): such matches
// never match. A warning, not an error: the regions' networks still match.
// The chain is known only once the server is built, which is why this runs
// at start-up, not in setup.
func warnWithoutGeoIP(c *caddy.Controller, regions []*region) {
	cfg := dnsserver.GetConfig(c)
	var missing []string
	for _, name := range []string{"geoip", "metadata"} {
		if cfg.Handler(name) == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return
	}
	for _, r := range regions {
		warnAt(c, r.line, "region %s matches country:/continent: codes, but this server block has no %s plugin to look clients up: those matches never match; add 'metadata' and 'geoip DBFILE' to the server block",
			r.name, strings.Join(missing, " and no "))
	}
}
