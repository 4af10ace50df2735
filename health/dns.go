package health

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// dnsProber is healthy when the target answers a query for a name and type
// with an expected rcode and, if asked, an answer containing a given text.
type dnsProber struct {
	client   *dns.Client
	qname    string
	qtype    uint16
	rcodes   []int
	contains string
}

func newDNSProber(u *url.URL, o *options, timeout time.Duration) (*dnsProber, error) {
	p := &dnsProber{client: &dns.Client{Net: "udp", Timeout: timeout}, qtype: dns.TypeA, rcodes: []int{dns.RcodeSuccess}}
	var err error
	if p.qname, err = queryName(u, o); err != nil {
		return nil, err
	}
	if opt, ok, err := o.one("type"); err != nil {
		return nil, err
	} else if ok {
		if len(opt.Args) != 1 || dns.StringToType[strings.ToUpper(opt.Args[0])] == 0 {
			return nil, o.errf(opt, "type takes one DNS type: write e.g. 'type AAAA'")
		}
		p.qtype = dns.StringToType[strings.ToUpper(opt.Args[0])]
	}
	if opt, ok, err := o.one("transport"); err != nil {
		return nil, err
	} else if ok {
		if len(opt.Args) != 1 || (opt.Args[0] != "udp" && opt.Args[0] != "tcp") {
			return nil, o.errf(opt, "transport takes udp or tcp: write e.g. 'transport tcp'")
		}
		p.client.Net = opt.Args[0]
	}
	if opt, ok, err := o.one("rcode"); err != nil {
		return nil, err
	} else if ok {
		p.rcodes = nil
		for _, a := range opt.Args {
			rc, known := dns.StringToRcode[strings.ToUpper(a)]
			if !known {
				return nil, o.errf(opt, "rcode '%s' is not a DNS rcode: write e.g. 'rcode NOERROR NXDOMAIN'", a)
			}
			p.rcodes = append(p.rcodes, rc)
		}
		if len(p.rcodes) == 0 {
			return nil, o.errf(opt, "rcode needs at least one rcode: write e.g. 'rcode NOERROR'")
		}
	}
	if p.contains, _, err = o.str("answer_contains", "answer_contains 192.0.2.10"); err != nil {
		return nil, err
	}
	return p, nil
}

// queryName is the name a dns check asks for: the 'query' option's, else
// the URL's host. 'query .' asks for the root, as CoreDNS's forward plugin
// does in its own health checks (. IN NS); a check must name it explicitly.
func queryName(u *url.URL, o *options) (string, error) {
	opt, ok, err := o.one("query")
	switch {
	case err != nil:
		return "", err
	case ok && (len(opt.Args) != 1 || opt.Args[0] == ""):
		return "", o.errf(opt, "query takes one name: write e.g. 'query www.example.org', or 'query .' for the root")
	case ok:
		if _, valid := dns.IsDomainName(opt.Args[0]); !valid {
			return "", o.errf(opt, "query '%s' is not a domain name: write e.g. 'query www.example.org', or 'query .' for the root", opt.Args[0])
		}
		return dns.Fqdn(opt.Args[0]), nil
	}
	host := u.Hostname()
	if host == "" {
		return "", fmt.Errorf("dns check '%s' has no name to query: write dns://NAME[:PORT], or add 'query NAME' to its block ('query .' for the root)", checkName(u))
	}
	if _, valid := dns.IsDomainName(host); !valid {
		return "", fmt.Errorf("dns check '%s': '%s' is not a domain name: write dns://NAME[:PORT], or add 'query NAME' to its block", checkName(u), host)
	}
	return dns.Fqdn(host), nil
}

func (p *dnsProber) Probe(ctx context.Context, dst netip.AddrPort) Result {
	start := time.Now()
	m := new(dns.Msg)
	m.SetQuestion(p.qname, p.qtype)
	r, _, err := p.client.ExchangeContext(ctx, m, dst.String())
	if err != nil {
		return failed(start, err)
	}
	ok := false
	for _, rc := range p.rcodes {
		ok = ok || r.Rcode == rc
	}
	if !ok {
		return failure(start, "rcode_"+strings.ToLower(dns.RcodeToString[r.Rcode]),
			fmt.Sprintf("rcode %s, want %s", rcodeName(r.Rcode), p.rcodeList()))
	}
	if p.contains == "" {
		return success(start)
	}
	for _, rr := range r.Answer {
		if strings.Contains(rr.String(), p.contains) {
			return success(start)
		}
	}
	return failure(start, ReasonMismatch, fmt.Sprintf("answer lacks the expected text (%d records)", len(r.Answer)))
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// rcodeList writes the accepted rcodes, e.g. "NOERROR or NXDOMAIN".
func (p *dnsProber) rcodeList() string {
	names := make([]string, len(p.rcodes))
	for i, rc := range p.rcodes {
		names[i] = rcodeName(rc)
	}
	return strings.Join(names, " or ")
}

func (p *dnsProber) Close() {}
