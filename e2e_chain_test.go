package failover_test

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestNamesOwnedWhenChainEnds: with hosts (fallthrough) behind failover and
// nothing after it, names failover owns never get SERVFAIL: AAAA, MX and
// TXT at a pool name get NODATA with the SOA, and the apex its SOA. Stub
// resolvers that ask A and AAAA together (musl) then resolve the name. A
// real failure behind failover (forward cannot reach its upstream) stays
// SERVFAIL.
func TestNamesOwnedWhenChainEnds(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1")
	dead, err := net.ListenPacket("udp", "127.0.0.1:0") // an upstream that never answers
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			check tcp://www.example.org:`+port+`
			ttl 20
		}
	}
	hosts {
		192.0.2.60 fromhosts.example.org
		fallthrough
	}
}
example.net:0 {
	failover {
		pool www.example.net {
			target 127.0.0.1
			check tcp://www.example.net:`+port+`
		}
	}
	forward . `+dead.LocalAddr().String()+` {
		max_fails 0
	}
}`)
	s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.1")
	for _, tc := range []struct {
		qname string
		qtype uint16
		soa   bool // the SOA in the answer section (else NODATA with it in authority)
	}{
		{"www.example.org.", dns.TypeAAAA, false},
		{"www.example.org.", dns.TypeMX, false},
		{"www.example.org.", dns.TypeTXT, false},
		{"example.org.", dns.TypeSOA, true},
		{"example.org.", dns.TypeA, false},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			r, err := s.query(proto, tc.qname, tc.qtype)
			if err != nil {
				t.Fatalf("%s %s over %s: %v", tc.qname, dns.TypeToString[tc.qtype], proto, err)
			}
			what := tc.qname + " " + dns.TypeToString[tc.qtype] + " over " + proto
			switch {
			case r.Rcode != dns.RcodeSuccess || !r.Authoritative:
				t.Errorf("%s: rcode %s (aa %v), want an authoritative NOERROR", what, dns.RcodeToString[r.Rcode], r.Authoritative)
			case tc.soa && (len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeSOA):
				t.Errorf("%s: answer %v, want the SOA", what, r.Answer)
			case !tc.soa && (len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA):
				t.Errorf("%s: answer %v, authority %v, want NODATA with the SOA", what, r.Answer, r.Ns)
			}
		}
	}
	if got, err := s.answers("fromhosts.example.org.", dns.TypeA); err != nil || len(got) != 1 || got[0] != "192.0.2.60" {
		t.Errorf("hosts behind failover: %v (%v)", got, err)
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.net.", dns.TypeMX)
	c := &dns.Client{Timeout: 15 * time.Second} // forward gives up on its own after a few seconds
	r, _, err := c.Exchange(m, s.udp)
	if err != nil || r.Rcode != dns.RcodeServerFailure {
		t.Errorf("MX at a pool name with an unreachable forward upstream: %v (%v), want SERVFAIL", r, err)
	}
}

// TestNotifyAndUpdatePassOn: NOTIFY and UPDATE at a pool name are not
// questions: failover passes them on, and with nothing behind it answers
// NOTIMP instead of records.
func TestNotifyAndUpdatePassOn(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			check tcp://www.example.org:`+port+`
		}
	}
}`)
	s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.1")
	for _, opcode := range []int{dns.OpcodeNotify, dns.OpcodeUpdate} {
		m := new(dns.Msg)
		m.SetQuestion("www.example.org.", dns.TypeA)
		if opcode == dns.OpcodeUpdate {
			m.SetUpdate("example.org.")
			m.Ns = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "www.example.org.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.7")}}
		}
		m.Opcode = opcode
		r, err := dns.Exchange(m, s.udp)
		if err != nil {
			t.Fatalf("%s: %v", dns.OpcodeToString[opcode], err)
		}
		if r.Rcode != dns.RcodeNotImplemented || len(r.Answer) != 0 {
			t.Errorf("%s at a pool name: rcode %s with %v, want NOTIMP and no records", dns.OpcodeToString[opcode], dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
}
