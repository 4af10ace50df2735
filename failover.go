// Package failover is a CoreDNS plugin that answers A and AAAA queries for a
// pool's names with the highest-priority healthy targets, as decided by
// active health checks.
package failover

import (
	"context"
	"net"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/request"

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

	qtype := state.QType()
	var a *answer
	fam := v4
	switch qtype {
	case dns.TypeA:
		a = entry.pool.answers[v4].Load()
	case dns.TypeAAAA:
		a, fam = entry.pool.answers[v6].Load(), v6
	}
	var ecs *dns.EDNS0_SUBNET
	if a != nil && len(entry.pool.regions) > 0 {
		reg, regionECS := entry.pool.clientRegion(ctx, r, w.RemoteAddr())
		if ra := regionalAnswer(entry.pool, fam, reg); ra != nil {
			a, ecs = ra, regionECS
		}
		if regionECS != nil {
			ecs = regionECS // the answer depends on the subnet either way
		}
	}
	if a == nil {
		return f.noRecords(ctx, state, entry.zone)
	}

	p := entry.pool
	switch a.result {
	case resultServfail:
		p.countAnswer(metrics.WithServer(ctx), qtype, a.result)
		return dns.RcodeServerFailure, nil
	case resultNodata:
		p.countAnswer(metrics.WithServer(ctx), qtype, a.result)
		return f.negative(w, r, entry.zone, dns.RcodeSuccess)
	}

	var client []byte
	if p.policy == policyHash {
		client, ecs = clientSubnet(r, w.RemoteAddr())
	}
	var buf [maxPick]net.IP
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	ttl := a.ttl
	if p.adaptiveMax > 0 {
		ttl = min(ttl, p.adaptiveTTL(time.Now()))
	}
	m.Answer = records(a.pick(p.policy, p.maxAnswers, client, &buf), state.QName(), qtype, ttl)
	if ecs != nil {
		// The answer depends on the client's subnet: say so, so that resolvers
		// cache it for that subnet only (RFC 7871 scope).
		m.Extra = append(m.Extra, ecsReply(r, ecs))
	}
	w.WriteMsg(m)

	p.countAnswer(metrics.WithServer(ctx), qtype, a.result)
	return dns.RcodeSuccess, nil
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
// records of the asked type. The next plugin may have them; if it says the
// name does not exist, that is turned into NODATA, because resolvers cache
// NXDOMAIN for the whole name (and, per RFC 8020, everything below it).
func (f *Failover) noRecords(ctx context.Context, state request.Request, zone string) (int, error) {
	if f.Next != nil {
		nw := &nodataWriter{ResponseWriter: state.W}
		rcode, err := plugin.NextOrFailure(f.Name(), f.Next, ctx, nw, state.Req)
		if nw.converted {
			return dns.RcodeSuccess, err
		}
		return rcode, err
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
}

func (w *nodataWriter) WriteMsg(m *dns.Msg) error {
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

// OnStartup starts probing. It runs once the server is set up, never for a
// configuration that failed to load.
func (f *Failover) OnStartup() error {
	for _, p := range f.pools {
		p.start()
	}
	if o := f.overrides; o != nil {
		ctx, cancel := context.WithCancel(context.Background())
		o.cancel = cancel
		o.wg.Go(func() { o.watch(ctx, f.applyOverrides) })
	}
	f.started = true
	return nil
}

// applyOverrides hands a newly read overrides file to every pool.
func (f *Failover) applyOverrides() {
	for _, p := range f.pools {
		p.mu.Lock()
		p.applyOverrides()
		p.mu.Unlock()
	}
}

// OnShutdown stops probing; it returns once every probe goroutine that no
// newer configuration shares has ended.
func (f *Failover) OnShutdown() error {
	if !f.started {
		return nil
	}
	if o := f.overrides; o != nil {
		o.cancel()
		o.wg.Wait()
	}
	for _, p := range f.pools {
		p.stop()
	}
	f.started = false
	return nil
}
