package failover_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/netns"

	"github.com/miekg/dns"
)

// Probe timing used by the end-to-end tests: detection takes about
// interval × fall + timeout, recovery about interval × rise.
const (
	testInterval = 300 * time.Millisecond
	testTimeout  = 200 * time.Millisecond
	testRise     = 2
	testFall     = 2
	// slack is generous: these are correctness tests on a shared, loaded
	// machine running the race detector; speed is measured by benchmarks.
	slack = 5 * time.Second
)

var (
	detectLimit  = testInterval*testFall + testTimeout + slack
	recoverLimit = testInterval*testRise + testTimeout + slack
)

func tieredCorefile(name, check string, targets ...string) string {
	pool := fmt.Sprintf("pool %s {\n", name)
	for i, tg := range targets {
		pool += fmt.Sprintf("\t\t\ttarget %s priority %d\n", tg, i+1)
	}
	return fmt.Sprintf(`example.org:0 {
	failover {
		%s
			check %s
			interval %s
			timeout %s
			rise %d
			fall %d
			ttl 5
		}
	}
}`, pool, check, testInterval, testTimeout, testRise, testFall)
}

// exerciseTiers kills the first, then the second backend, checks that the
// answers move down the tiers, brings them back and checks that the answers
// return to the primary.
func exerciseTiers(t *testing.T, s *coreDNS, qtype uint16, bs []*backend, ips []string) {
	t.Helper()
	const name = "www.example.org."
	waitAllUp(t, name, ips...)
	s.waitAnswer(t, name, qtype, recoverLimit, ips[0])

	bs[0].stop()
	d := s.waitAnswer(t, name, qtype, detectLimit, ips[1])
	t.Logf("Primary %s killed: answers moved to %s in %s", ips[0], ips[1], d.Round(time.Millisecond))

	bs[1].stop()
	d = s.waitAnswer(t, name, qtype, detectLimit, ips[2])
	t.Logf("Secondary %s killed: answers moved to %s in %s", ips[1], ips[2], d.Round(time.Millisecond))

	bs[1].start()
	d = s.waitAnswer(t, name, qtype, recoverLimit, ips[1])
	t.Logf("Secondary back: answers returned to %s in %s", ips[1], d.Round(time.Millisecond))

	bs[0].start()
	d = s.waitAnswer(t, name, qtype, recoverLimit, ips[0])
	t.Logf("Primary back: answers returned to %s in %s", ips[0], d.Round(time.Millisecond))
}

// waitAllUp waits until every target has been probed UP, so that what
// follows measures detection, not the first verdict.
func waitAllUp(t *testing.T, pool string, ips ...string) {
	t.Helper()
	for _, ip := range ips {
		waitFor(t, recoverLimit, "target "+ip+" up", func() bool {
			return metricValue(t, "coredns_failover_target_up", map[string]string{"pool": pool, "target": ip}) == 1
		})
	}
}

func TestFailoverThreeTiersHTTP(t *testing.T) {
	ips := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	bs, port := startBackends(t, nil, ips...)
	s := startCoreDNS(t, tieredCorefile("www.example.org", "http://www.example.org:"+port+"/health", ips...))
	exerciseTiers(t, s, dns.TypeA, bs, ips)
}

func TestFailoverThreeTiersTCP(t *testing.T) {
	ips := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	bs, port := startBackends(t, nil, ips...)
	s := startCoreDNS(t, tieredCorefile("www.example.org", "tcp://www.example.org:"+port, ips...))
	exerciseTiers(t, s, dns.TypeA, bs, ips)
}

// TestFailoverThreeTiersAAAA needs three IPv6 loopback addresses: it runs in
// a network namespace of its own, where 2001:db8::2 and ::3 sit on lo.
func TestFailoverThreeTiersAAAA(t *testing.T) {
	if !netns.Own(t) {
		return
	}
	ips := []string{"::1", "2001:db8::2", "2001:db8::3"}
	bs, port := startBackends(t, nil, ips...)
	s := startCoreDNS(t, tieredCorefile("www.example.org", "http://www.example.org:"+port+"/health", ips...))
	exerciseTiers(t, s, dns.TypeAAAA, bs, ips)
}

// TestFailoverFamiliesIndependent shows that A and AAAA are decided
// separately: the IPv4 primary failing moves A answers only.
func TestFailoverFamiliesIndependent(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2", "::1")
	corefile := `example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			target ::1
			check tcp://www.example.org:` + port + `
			interval 300ms
			timeout 200ms
			fall 2
		}
	}
}`
	s := startCoreDNS(t, corefile)
	waitAllUp(t, "www.example.org.", "127.0.0.1", "127.0.0.2", "::1")
	s.waitAnswer(t, "www.example.org", dns.TypeA, recoverLimit, "127.0.0.1")
	s.waitAnswer(t, "www.example.org", dns.TypeAAAA, recoverLimit, "::1")
	bs[0].stop()
	s.waitAnswer(t, "www.example.org", dns.TypeA, detectLimit, "127.0.0.2")
	if got, err := s.answers("www.example.org", dns.TypeAAAA); err != nil || len(got) != 1 || got[0] != "::1" {
		t.Errorf("AAAA changed with the IPv4 primary: got %v (%v), want [::1]", got, err)
	}
}

// TestProbeAddress: targets answer with one address and are checked at
// another (a health endpoint behind a VIP). The answered documentation
// addresses are never contacted; only the loopback probe addresses are.
// The pool also combines two checks with 'require any'.
func TestProbeAddress(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool vip.example.org {
			target 192.0.2.10 probe 127.0.0.1:`+port+`
			target 192.0.2.11 priority 2 probe 127.0.0.2
			check http://vip.example.org:`+port+`/health
			check tcp://vip.example.org:1
			require any
			interval 300ms
			timeout 200ms
			fall 2
		}
	}
}`)
	waitAllUp(t, "vip.example.org.", "192.0.2.10", "192.0.2.11")
	s.waitAnswer(t, "vip.example.org.", dns.TypeA, recoverLimit, "192.0.2.10")
	bs[0].stop()
	d := s.waitAnswer(t, "vip.example.org.", dns.TypeA, detectLimit, "192.0.2.11")
	t.Logf("Probe address 127.0.0.1 killed: answers moved from 192.0.2.10 to 192.0.2.11 in %s", d.Round(time.Millisecond))
}
