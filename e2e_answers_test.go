package failover_test

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/testpki"

	"github.com/miekg/dns"
)

const zoneFile = `$ORIGIN example.org.
@       3600 IN SOA ns.example.org. hostmaster.example.org. 1 7200 3600 1209600 300
@       3600 IN NS  ns.example.org.
ns      3600 IN A   192.0.2.53
www     3600 IN TXT "served by file"
www     3600 IN A   192.0.2.99
static  3600 IN A   192.0.2.50
`

// TestAnswersBesideOtherPlugins puts hosts and file behind failover and checks
// which plugin answers what, and that no name failover owns gets NXDOMAIN.
func TestAnswersBesideOtherPlugins(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1")
	zone := filepath.Join(t.TempDir(), "db.example.org")
	if err := os.WriteFile(zone, []byte(zoneFile), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org a.b.example.org {
			target 127.0.0.1
			check tcp://www.example.org:`+port+`
			interval 300ms
			ttl 7
		}
	}
	hosts {
		192.0.2.60 fromhosts.example.org
		fallthrough
	}
	file `+zone+`
}`)

	for _, tc := range []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string // addresses, or the TXT string
		soa    bool     // authority section carries the SOA
	}{
		{"pool answer wins over file", "www.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.1"}, false},
		{"pool name, other type in file", "www.example.org.", dns.TypeTXT, dns.RcodeSuccess, []string{"served by file"}, false},
		{"pool name, type nobody has", "www.example.org.", dns.TypeMX, dns.RcodeSuccess, nil, true},
		{"pool name, family with no target", "www.example.org.", dns.TypeAAAA, dns.RcodeSuccess, nil, true},
		{"pool name file lacks: NXDOMAIN becomes NODATA", "a.b.example.org.", dns.TypeHTTPS, dns.RcodeSuccess, nil, true},
		{"empty non-terminal above a pool name", "b.example.org.", dns.TypeA, dns.RcodeSuccess, nil, true},
		{"outside pools: hosts", "fromhosts.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.60"}, false},
		{"outside pools: file", "static.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.50"}, false},
		{"outside pools: NXDOMAIN untouched", "nothere.example.org.", dns.TypeA, dns.RcodeNameError, nil, true},
		{"below a pool name: NXDOMAIN untouched", "x.www.example.org.", dns.TypeA, dns.RcodeNameError, nil, true},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			r, err := s.query(proto, tc.qname, tc.qtype)
			if err != nil {
				t.Fatalf("%s over %s: %v", tc.name, proto, err)
			}
			if r.Rcode != tc.rcode {
				t.Errorf("%s over %s: rcode %s, want %s", tc.name, proto, dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			got := addresses(r)
			for _, rr := range r.Answer {
				if txt, ok := rr.(*dns.TXT); ok {
					got = append(got, txt.Txt...)
				}
			}
			if len(got) != len(tc.answer) || (len(got) > 0 && got[0] != tc.answer[0]) {
				t.Errorf("%s over %s: answer %v, want %v", tc.name, proto, got, tc.answer)
			}
			hasSOA := len(r.Ns) > 0 && r.Ns[0].Header().Rrtype == dns.TypeSOA
			if hasSOA != tc.soa {
				t.Errorf("%s over %s: SOA in authority %v, want %v", tc.name, proto, hasSOA, tc.soa)
			}
		}
	}
	r, _ := s.query("udp", "WWW.Example.ORG.", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].Header().Name != "WWW.Example.ORG." || r.Answer[0].Header().Ttl != 7 || !r.Authoritative {
		t.Errorf("Pool answer should be authoritative, keep the query's case and carry the pool ttl 7: %v", r)
	}
}

// TestAnswersAlone runs failover with no plugin behind it: it is then the
// only authority for its zone and synthesizes negative answers with a SOA.
func TestAnswersAlone(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			check tcp://www.example.org:`+port+`
			ttl 20
		}
	}
}`)
	for _, tc := range []struct {
		qname string
		qtype uint16
		rcode int
	}{
		{"www.example.org.", dns.TypeMX, dns.RcodeSuccess},
		{"www.example.org.", dns.TypeAAAA, dns.RcodeSuccess},
		{"example.org.", dns.TypeA, dns.RcodeSuccess},
		{"other.example.org.", dns.TypeA, dns.RcodeNameError},
	} {
		r, err := s.query("udp", tc.qname, tc.qtype)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != tc.rcode || len(r.Answer) != 0 || !r.Authoritative {
			t.Errorf("%s %s: got rcode %s with %d answers (aa %v), want authoritative %s with none",
				tc.qname, dns.TypeToString[tc.qtype], dns.RcodeToString[r.Rcode], len(r.Answer), r.Authoritative, dns.RcodeToString[tc.rcode])
		}
		if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA || r.Ns[0].(*dns.SOA).Minttl != 20 {
			t.Errorf("%s %s: want a SOA with minimum 20 in the authority section, got %v", tc.qname, dns.TypeToString[tc.qtype], r.Ns)
		}
	}
	r, _ := s.query("tcp", "example.org.", dns.TypeSOA)
	if r == nil || len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("SOA at the apex: got %v", r)
	}
}

// TestAllDownFailsOpen: when every target is down the best tier is served
// anyway, and the all-down metric counts the event.
func TestAllDownFailsOpen(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool down.example.org {
			target 127.0.0.1
			target 127.0.0.2
			target 127.0.0.3 priority 2
			check http://down.example.org:`+port+`/
			interval 300ms
			timeout 200ms
			fall 2
		}
	}
}`)
	const pool = "down.example.org."
	waitAllUp(t, pool, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	events := metricValue(t, "coredns_failover_all_down_total", map[string]string{"pool": pool, "type": "A"})
	if events > 0 {
		t.Fatalf("All-down counted %v times before anything went down", events)
	}
	for _, b := range bs {
		b.stop()
	}
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		waitFor(t, detectLimit, "target "+ip+" down", func() bool {
			return metricValue(t, "coredns_failover_target_up", map[string]string{"pool": pool, "target": ip}) == 0
		})
	}
	// Fail open: the whole best tier, not the backup tier, not an empty answer.
	s.waitAnswer(t, pool, dns.TypeA, time.Second, "127.0.0.1", "127.0.0.2")
	if got := metricValue(t, "coredns_failover_all_down_total", map[string]string{"pool": pool, "type": "A"}); got != 1 {
		t.Errorf("coredns_failover_all_down_total: got %v, want 1", got)
	}
	if got := metricValue(t, "coredns_failover_answers_total", map[string]string{"pool": pool, "type": "A", "result": "fail_open"}); got < 1 {
		t.Errorf("coredns_failover_answers_total{result=fail_open}: got %v, want at least 1", got)
	}
}

// TestHTTPSVerification: the primary serves a certificate nobody trusts and
// is DOWN; the secondary's certificate is signed by the configured CA for the
// check's host and is UP, and sees that host as SNI. With the CA but a host
// the certificates do not name, every target is DOWN.
func TestHTTPSVerification(t *testing.T) {
	ca := testpki.NewCA(t)
	caFile, trusted, untrusted := ca.File, ca.Server(t, "www.example.org"), testpki.NewCA(t).Server(t, "www.example.org")
	var sni sync.Map // every server name the backends were asked for
	lns, port := listenSamePort(t, "127.0.0.1", "127.0.0.2")
	for i, cert := range []tls.Certificate{untrusted, trusted} {
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sni.Store(h.ServerName, true)
			return nil, nil
		}}
		srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: time.Second}
		go srv.Serve(tls.NewListener(lns[i], cfg))
		t.Cleanup(func() { srv.Close() })
	}

	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			check https://www.example.org:`+port+`/health {
				ca `+caFile+`
			}
			interval 300ms
		}
		pool wrong.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			check https://wrong.example.net:`+port+`/health {
				ca `+caFile+`
			}
			interval 300ms
		}
	}
}`)
	s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.2")
	if _, ok := sni.Load("www.example.org"); !ok {
		t.Errorf("The backends never saw SNI www.example.org")
	}
	for _, tc := range []struct {
		pool, target string
		up           float64
	}{
		{"www.example.org.", "127.0.0.1", 0},
		{"www.example.org.", "127.0.0.2", 1},
		{"wrong.example.org.", "127.0.0.1", 0},
		{"wrong.example.org.", "127.0.0.2", 0},
	} {
		waitFor(t, recoverLimit, tc.pool+" "+tc.target+" verdict", func() bool {
			return metricValue(t, "coredns_failover_target_up", map[string]string{"pool": tc.pool, "target": tc.target}) == tc.up
		})
	}
}
