package health

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// dnsProber is healthy when the target answers a query for a name and type
// with an expected rcode and, if asked, an answer containing a given text.
type dnsProber struct {
	client   *dns.Client // its Net and Timeout; the exchange is Probe's own
	query    []byte      // the packed query; each probe gives it a new ID
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
	m := new(dns.Msg)
	m.SetQuestion(p.qname, p.qtype)
	if p.query, err = m.Pack(); err != nil {
		return nil, fmt.Errorf("dns check '%s': cannot build the query: %v", checkName(u), err)
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

// Probe's RTT is the time from sending the query to receiving its reply,
// as dig's "Query time": over TCP the connect is not part of it.
func (p *dnsProber) Probe(ctx context.Context, dst netip.AddrPort) Result {
	start := time.Now()
	r, rtt, err := p.exchange(ctx, dst)
	if err != nil {
		return failed(start, err)
	}
	if problem := p.notItsReply(r); problem != "" {
		return failure(start, ReasonProtocol, problem)
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
		return successRTT(start, rtt)
	}
	for _, rr := range r.Answer {
		if strings.Contains(rr.String(), p.contains) {
			return successRTT(start, rtt)
		}
	}
	return failure(start, ReasonMismatch, fmt.Sprintf("answer lacks the expected text (%d records)", len(r.Answer)))
}

// notItsReply says why r, which has the query's ID, is not a reply to the
// query, or returns "". The ID alone is not enough: a service that sends
// every datagram back (a UDP echo) returns the query itself. The detail
// names what the query asked, never the peer's bytes. A name in another
// case is the same name (RFC 4343; resolvers that randomise its case expect
// it back as sent, but a server may answer in its zone's case).
func (p *dnsProber) notItsReply(r *dns.Msg) string {
	switch {
	case !r.Response:
		return "not a reply: QR bit clear (the target sent the query back; is it a DNS server?)"
	case r.Opcode != dns.OpcodeQuery:
		return fmt.Sprintf("reply has opcode %s, want QUERY as sent", opcodeName(r.Opcode))
	case len(r.Question) != 1:
		return fmt.Sprintf("reply has %d questions, want the query's question (%s)", len(r.Question), p.question())
	}
	q := r.Question[0]
	if q.Qtype != p.qtype || q.Qclass != dns.ClassINET || !strings.EqualFold(q.Name, p.qname) {
		return fmt.Sprintf("reply's question is not the query's (%s)", p.question())
	}
	return ""
}

// question writes the query's question as dig does, e.g. "example.org. IN A".
func (p *dnsProber) question() string {
	return p.qname + " IN " + dns.TypeToString[p.qtype]
}

func opcodeName(op int) string {
	if s, ok := dns.OpcodeToString[op]; ok {
		return s
	}
	return fmt.Sprintf("OPCODE%d", op)
}

// exchange sends the query and reads the reply as dns.Client.ExchangeContext
// does (one deadline from the timeout and ctx; over UDP, replies with
// another ID are skipped; over TCP, one is an error), with the query packed
// once and the reply read into a pooled buffer (BenchmarkProbeDNS: 40
// allocations a probe down to 24, most of them the reply's records and
// answer_contains' text of them). rtt is the time from sending the query
// to reading the reply.
func (p *dnsProber) exchange(ctx context.Context, dst netip.AddrPort) (_ *dns.Msg, rtt time.Duration, _ error) {
	deadline := time.Now().Add(p.client.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var (
		conn net.Conn
		err  error
	)
	if p.client.Net == "tcp" {
		// As dns.Client dials: a plain net.Dialer.
		conn, err = (&net.Dialer{Deadline: deadline}).DialContext(ctx, "tcp", dst.String())
	} else {
		conn, err = dialUDP(dst)
	}
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
		defer stop()
	}
	bp := dnsBufs.Get().(*[]byte)
	defer dnsBufs.Put(bp)
	buf := *bp
	if len(buf) < 2+len(p.query) {
		buf = make([]byte, 2+len(p.query)) // a long name, over TCP
	}
	id := dns.Id()
	tcp := p.client.Net == "tcp"
	out := buf[:0]
	if tcp {
		out = binary.BigEndian.AppendUint16(out, uint16(len(p.query)))
	}
	out = append(out, p.query...)
	binary.BigEndian.PutUint16(out[len(out)-len(p.query):], id)
	sent := time.Now()
	if _, err := conn.Write(out); err != nil {
		return nil, 0, err
	}
	for {
		msg, err := readReply(conn, buf, tcp)
		if err != nil {
			return nil, 0, err
		}
		rtt := time.Since(sent)
		r := new(dns.Msg)
		if err := r.Unpack(msg); err != nil {
			return nil, 0, err
		}
		switch {
		case r.Id == id:
			return r, rtt, nil
		case tcp:
			return nil, 0, dns.ErrId
		}
		// A reply to an earlier query that timed out: read on.
	}
}

// dnsBufs holds buffers for a query and a reply, of the size dns.Client
// reads a UDP reply into; a longer TCP reply gets its own.
var dnsBufs = sync.Pool{New: func() any { b := make([]byte, dns.MinMsgSize); return &b }}

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

// readReply reads one DNS message from conn into buf (a larger buffer if a
// TCP message needs it) and returns its bytes.
func readReply(conn net.Conn, buf []byte, tcp bool) ([]byte, error) {
	var n int
	var err error
	if tcp {
		if _, err := io.ReadFull(conn, buf[:2]); err != nil {
			return nil, err
		}
		size := int(binary.BigEndian.Uint16(buf))
		if size > len(buf) {
			buf = make([]byte, size) // rare: the pooled buffer stays small
		}
		n, err = io.ReadFull(conn, buf[:size])
	} else {
		n, err = conn.Read(buf[:dns.MinMsgSize]) // dns.Client's size without EDNS0
	}
	if err != nil {
		return nil, err
	}
	if n < 12 {
		return nil, dns.ErrShortRead
	}
	return buf[:n], nil
}

func (p *dnsProber) Close() {}
