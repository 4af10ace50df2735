// Package failover is a CoreDNS plugin that answers A and AAAA queries for a
// pool's names with the highest-priority healthy targets, as decided by
// active health checks.
package failover

import (
	"context"
	"net"
	"strings"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/request"
	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/notify"
	"github.com/failover-dns/failover/status"

	"github.com/miekg/dns"
)

const pluginName = "failover"

var log = clog.NewWithPlugin(pluginName)

// Failover is the plugin handler for one server block.
type Failover struct {
	Next plugin.Handler

	zones []string
	pools []*pool
	// names maps every pool name to its pool and zone.
	names map[string]poolName
	// existing maps the zone apexes and the empty non-terminals above pool
	// names to their zone: names that exist even if no other plugin has them.
	existing map[string]string
	negTTL   uint32 // TTL and minimum of synthesized SOA records
	serial   uint32

	overrides *overridesFile // nil without an overrides file
	status    *status.Config // nil without a status listener
	statusAt  int            // the Corefile line of the status property
	statusSrv *status.Lease  // while started
	block     string         // the server block's keys, for logs

	notify    []notify.Config  // one per notify line
	notifiers []*notify.Handle // while started

	fleet  *fleet.Config // nil without a fleet line
	member *fleet.Fleet  // while started

	gen     *generation
	mu      sync.Mutex // guards started
	started bool
}

type poolName struct {
	pool *pool
	zone string
}

// Name implements plugin.Handler.
func (f *Failover) Name() string { return pluginName }

// ServeDNS implements plugin.Handler.
func (f *Failover) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if r.Opcode != dns.OpcodeQuery {
		// NOTIFY, UPDATE and the like are not questions failover answers.
		if f.Next == nil {
			return dns.RcodeNotImplemented, nil
		}
		return plugin.NextOrFailure(f.Name(), f.Next, ctx, w, r)
	}
	state := request.Request{W: w, Req: r}
	qname := state.Name()
	entry, ok := f.names[qname]
	if !ok {
		if zone, ok := f.existing[qname]; ok {
			return f.noRecords(ctx, state, zone)
		}
		if f.Next == nil {
			if zone := plugin.Zones(f.zones).Matches(qname); zone != "" {
				return f.negative(w, r, zone, dns.RcodeNameError)
			}
		}
		return plugin.NextOrFailure(f.Name(), f.Next, ctx, w, r)
	}
	p := entry.pool
	fam, isAddress := familyOf(state.QType())
	if !isAddress || len(p.tiers[fam]) == 0 {
		return f.noRecords(ctx, state, entry.zone)
	}

	a := p.answers[fam].Load()
	var cl client
	perClient := p.policy == policyHash || len(p.regions) > 0
	if perClient {
		cl = clientOf(r, w.RemoteAddr())
	}
	if len(p.regions) > 0 {
		if ra := regionalAnswer(p, fam, p.clientRegion(ctx, cl)); ra != nil {
			a = ra
		}
	}
	server := metrics.WithServer(ctx)
	switch a.result {
	case resultServfail:
		p.countAnswer(server, fam, a.result)
		return dns.RcodeServerFailure, nil
	case resultNodata:
		p.countAnswer(server, fam, a.result)
		return f.negative(w, r, entry.zone, dns.RcodeSuccess)
	}

	var buf [maxPick]net.IP
	var key [net.IPv6len + 1]byte
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	ttl := a.ttl
	if p.adaptiveMax > 0 {
		ttl = min(ttl, p.adaptiveTTL(p.clock.Now()))
	}
	m.Answer = records(a.pick(p.policy, p.maxAnswers, cl.hashKey(key[:]), &buf), state.QName(), state.QType(), ttl)
	if perClient && cl.ecs != nil {
		// The answer depends on the client's subnet: say so, so that resolvers
		// cache it for that subnet only (RFC 7871 scope).
		m.Extra = append(m.Extra, ecsReply(r, cl.ecs))
	}
	w.WriteMsg(m)
	p.countAnswer(server, fam, a.result)
	return dns.RcodeSuccess, nil
}

// familyOf maps the A and AAAA query types to their address family.
func familyOf(qtype uint16) (int, bool) {
	switch qtype {
	case dns.TypeA:
		return v4, true
	case dns.TypeAAAA:
		return v6, true
	}
	return 0, false
}

func regionalAnswer(p *pool, fam, reg int) *answer {
	if reg < 0 {
		return nil
	}
	return p.regional[fam][reg].Load()
}

// ecsReply is an OPT record echoing the query's client subnet option with
// its scope set to the source prefix the answer was chosen by.
func ecsReply(r *dns.Msg, ecs *dns.EDNS0_SUBNET) *dns.OPT {
	opt := new(dns.OPT)
	opt.Hdr.Name = "."
	opt.Hdr.Rrtype = dns.TypeOPT
	opt.SetUDPSize(r.IsEdns0().UDPSize())
	scoped := *ecs
	scoped.SourceScope = ecs.SourceNetmask
	opt.Option = []dns.EDNS0{&scoped}
	return opt
}

// noRecords answers a query at a name that exists (a pool name, an empty
// non-terminal above one, or a zone apex) but for which failover has no
// records of the asked type. The plugins behind it may have them. If they
// say the name does not exist, that becomes NODATA, because resolvers cache
// NXDOMAIN for the whole name (and, per RFC 8020, everything below it). If
// they write nothing because the chain simply ended (hosts with fallthrough
// and nothing after it), failover answers itself, as it does when no plugin
// follows it. A real failure behind it (forward could not reach its
// upstream) stays SERVFAIL.
func (f *Failover) noRecords(ctx context.Context, state request.Request, zone string) (int, error) {
	if f.Next != nil {
		nw := &nodataWriter{ResponseWriter: state.W}
		rcode, err := plugin.NextOrFailure(f.Name(), f.Next, ctx, nw, state.Req)
		if nw.converted {
			return dns.RcodeSuccess, err
		}
		if nw.written || !chainEnded(rcode, err) {
			return rcode, err
		}
	}
	if state.QType() == dns.TypeSOA && state.Name() == zone {
		m := new(dns.Msg)
		m.SetReply(state.Req)
		m.Authoritative = true
		m.Answer = []dns.RR{f.soa(zone)}
		state.W.WriteMsg(m)
		return dns.RcodeSuccess, nil
	}
	return f.negative(state.W, state.Req, zone, dns.RcodeSuccess)
}

// chainEnded reports whether a plugin chain failed only because it ran out
// of plugins: CoreDNS's NextOrFailure says so with this error text and no
// error value to compare against.
func chainEnded(rcode int, err error) bool {
	return rcode == dns.RcodeServerFailure && err != nil && strings.HasSuffix(err.Error(), "no next plugin found")
}

// negative writes NODATA (rcode success) or NXDOMAIN with the zone's SOA.
func (f *Failover) negative(w dns.ResponseWriter, r *dns.Msg, zone string, rcode int) (int, error) {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.Authoritative = true
	m.Ns = []dns.RR{f.soa(zone)}
	w.WriteMsg(m)
	return rcode, nil
}

// soa is the SOA record failover shows in negative answers when no other
// plugin serves the zone.
func (f *Failover) soa(zone string) dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: f.negTTL},
		Ns:      dnsutil.Join("ns.dns", zone),
		Mbox:    dnsutil.Join("hostmaster.dns", zone),
		Serial:  f.serial,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  f.negTTL,
	}
}

// nodataWriter passes the next plugin's reply through, except that NXDOMAIN
// with no answer records becomes NODATA. The reply is copied, never changed:
// the plugin that built it may still hold it (file answers from its zone tree).
type nodataWriter struct {
	dns.ResponseWriter
	converted bool
	written   bool
}

func (w *nodataWriter) WriteMsg(m *dns.Msg) error {
	w.written = true
	if m.Rcode != dns.RcodeNameError || len(m.Answer) > 0 {
		return w.ResponseWriter.WriteMsg(m)
	}
	nodata := m.Copy()
	nodata.Rcode = dns.RcodeSuccess
	w.converted = true
	return w.ResponseWriter.WriteMsg(nodata)
}

// Ready implements the ready plugin's Readiness: true once every target of
// every pool has a verdict from its first probe. A pool whose targets are all
// down is still ready: a backend outage does not make this DNS server unready.
func (f *Failover) Ready() bool {
	for _, p := range f.pools {
		if !p.ready.Load() {
			return false
		}
	}
	return true
}
