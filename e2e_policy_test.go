package failover_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestAllDownPolicies: with every target down, each all_down policy answers as configured.
func TestAllDownPolicies(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	pool := func(name, policy string) string {
		return fmt.Sprintf(`
		pool %s {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			target ::1
			check tcp://%s:%s
			interval 300ms
			timeout 200ms
			fall 1
			all_down %s
		}`, name, name, port, policy)
	}
	s := startCoreDNS(t, `example.org:0 {
	failover {`+pool("best.example.org", "best_tier")+pool("all.example.org", "all")+pool("fail.example.org", "servfail")+
		pool("empty.example.org", "nodata")+pool("fallback.example.org", "fallback 192.0.2.99 2001:db8::99")+`
	}
}`)
	for _, name := range []string{"best", "all", "fail", "empty", "fallback"} {
		waitAllUp(t, name+".example.org.", "127.0.0.1", "127.0.0.2")
	}
	for _, b := range bs {
		b.stop()
	}
	for _, name := range []string{"best", "all", "fail", "empty", "fallback"} {
		for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
			waitFor(t, detectLimit, name+" "+ip+" down", func() bool {
				return metricValue(t, "coredns_failover_target_up", map[string]string{"pool": name + ".example.org.", "target": ip}) == 0
			})
		}
	}
	s.waitAnswer(t, "best.example.org.", dns.TypeA, time.Second, "127.0.0.1")
	s.waitAnswer(t, "all.example.org.", dns.TypeA, time.Second, "127.0.0.1", "127.0.0.2")
	s.waitAnswer(t, "fallback.example.org.", dns.TypeA, time.Second, "192.0.2.99")
	s.waitAnswer(t, "fallback.example.org.", dns.TypeAAAA, time.Second, "2001:db8::99") // ::1 has no backend
	for _, proto := range []string{"udp", "tcp"} {
		r, err := s.query(proto, "fail.example.org.", dns.TypeA)
		if err != nil || r.Rcode != dns.RcodeServerFailure {
			t.Errorf("all_down servfail over %s: got %v (%v), want SERVFAIL", proto, r, err)
		}
		r, err = s.query(proto, "empty.example.org.", dns.TypeA)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
			t.Errorf("all_down nodata over %s: got %v (%v), want NOERROR, no answer, a SOA", proto, r, err)
		}
	}
	for _, tc := range []struct{ pool, result string }{
		{"fail.example.org.", "servfail"}, {"empty.example.org.", "nodata"}, {"best.example.org.", "fail_open"},
	} {
		if got := metricValue(t, "coredns_failover_answers_total", map[string]string{"pool": tc.pool, "result": tc.result}); got < 1 {
			t.Errorf("answers_total{pool=%s,result=%s} = %v, want >= 1", tc.pool, tc.result, got)
		}
		if got := metricValue(t, "coredns_failover_all_down_total", map[string]string{"pool": tc.pool, "type": "A"}); got != 1 {
			t.Errorf("all_down_total{pool=%s} = %v, want 1", tc.pool, got)
		}
	}
}

// TestMinHealthyMovesEarly: with min_healthy 2, traffic leaves a tier of
// three when two of them are down, while one primary target is still up.
func TestMinHealthyMovesEarly(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2
			target 127.0.0.3
			target 127.0.0.4 priority 2
			check tcp://www.example.org:`+port+`
			interval 300ms
			timeout 200ms
			fall 1
			min_healthy 2
		}
	}
}`)
	waitAllUp(t, "www.example.org.", "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
	s.waitAnswer(t, "www.example.org.", dns.TypeA, time.Second, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	bs[0].stop()
	s.waitAnswer(t, "www.example.org.", dns.TypeA, detectLimit, "127.0.0.2", "127.0.0.3")
	bs[1].stop()
	d := s.waitAnswer(t, "www.example.org.", dns.TypeA, detectLimit, "127.0.0.4")
	t.Logf("One of three primaries left (below min_healthy 2): traffic moved to the backup tier in %s", d.Round(time.Millisecond))
	bs[3].stop()
	// With the backup tier empty, the primary tier's last survivor is better than nothing.
	s.waitAnswer(t, "www.example.org.", dns.TypeA, detectLimit, "127.0.0.3")
}

// TestDegradedTTL: the answer's TTL drops while any target is down.
func TestDegradedTTL(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2
			check tcp://www.example.org:`+port+`
			interval 300ms
			timeout 200ms
			fall 1
			ttl 60
			degraded_ttl 5
		}
	}
}`)
	ttl := func() uint32 {
		r, err := s.query("udp", "www.example.org.", dns.TypeA)
		if err != nil || len(r.Answer) == 0 {
			return 0
		}
		return r.Answer[0].Header().Ttl
	}
	waitAllUp(t, "www.example.org.", "127.0.0.1", "127.0.0.2")
	if got := ttl(); got != 60 {
		t.Fatalf("Healthy pool TTL %d, want 60", got)
	}
	bs[1].stop()
	waitFor(t, detectLimit, "degraded TTL", func() bool { return ttl() == 5 })
	bs[1].start()
	waitFor(t, recoverLimit, "normal TTL again", func() bool { return ttl() == 60 })
}

// TestStartupDown: with 'startup down', a target is not answered before its
// first probe passes, so a dead primary is never handed out at start-up.
func TestStartupDown(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.2")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			check tcp://www.example.org:`+port+`
			interval 2s
			startup down
			all_down nodata
		}
		pool new.example.org {
			target 127.0.0.1
			target 127.0.0.3 priority 2
			check tcp://new.example.org:`+port+`
			interval 2s
			startup down
		}
	}
}`)
	// Before any verdict every target counts as down: NODATA, never the dead primary.
	r, err := s.query("udp", "www.example.org.", dns.TypeA)
	if err != nil || len(r.Answer) != 0 {
		t.Fatalf("Before the first probes: got %v (%v), want no address", r, err)
	}
	s.waitAnswer(t, "www.example.org.", dns.TypeA, recoverLimit, "127.0.0.2")

	// all_down best_tier (the default) serves nothing that never passed a
	// probe: SERVFAIL before the first verdicts and after them, while every
	// target of the pool is dead.
	expectServfail := func(when string) {
		t.Helper()
		for _, proto := range []string{"udp", "tcp"} {
			if r, err := s.query(proto, "new.example.org.", dns.TypeA); err != nil || r.Rcode != dns.RcodeServerFailure {
				t.Errorf("%s, over %s: got %v (%v), want SERVFAIL", when, proto, r, err)
			}
		}
	}
	expectServfail("Before the first probes")
	waitFor(t, recoverLimit, "verdicts on new.example.org", func() bool {
		return metricValue(t, "coredns_failover_target_up", map[string]string{"pool": "new.example.org.", "target": "127.0.0.3"}) == 0
	})
	expectServfail("Every target down, none ever up")
}

// TestHashPolicyECS: the hash policy keeps each client subnet (from the EDNS
// Client Subnet option) on one target and echoes the option with its scope.
func TestHashPolicyECS(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2
			target 127.0.0.3
			target 127.0.0.4
			check tcp://www.example.org:`+port+`
			policy hash
		}
	}
}`)
	ask := func(subnet string) (string, *dns.EDNS0_SUBNET) {
		r, ecs := s.askECS(t, "www.example.org.", subnet)
		if len(r.Answer) != 1 {
			t.Fatalf("Query from %s: %v, want one answer", subnet, r)
		}
		return r.Answer[0].(*dns.A).A.String(), ecs
	}
	seen := map[string]bool{}
	for i := range 64 {
		subnet := fmt.Sprintf("198.51.%d.0", i)
		first, ecs := ask(subnet)
		if ecs == nil || ecs.SourceScope != 24 {
			t.Fatalf("Reply to %s: ECS option %v, want it echoed with scope 24", subnet, ecs)
		}
		for range 3 {
			if again, _ := ask(subnet); again != first {
				t.Fatalf("Subnet %s got %s, then %s", subnet, first, again)
			}
		}
		seen[first] = true
	}
	if len(seen) != 4 {
		t.Errorf("64 subnets were spread over %d targets, want all 4", len(seen))
	}
}

// TestAdaptiveTTL: the TTL never exceeds the time until the answer could
// next change (next probe + (fall-1) x fast_interval), within its bounds.
func TestAdaptiveTTL(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool slow.example.org {
			target 127.0.0.1
			check tcp://slow.example.org:`+port+`
			interval 10s
			fast_interval 1s
			fall 3
			ttl 300
			adaptive_ttl 1 60
		}
		pool fast.example.org {
			target 127.0.0.1
			check tcp://fast.example.org:`+port+`
			interval 300ms
			ttl 300
			adaptive_ttl 5 60
		}
	}
}`)
	ttl := func(name string) uint32 {
		r, err := s.query("udp", name, dns.TypeA)
		if err != nil || len(r.Answer) == 0 {
			t.Fatalf("%s: %v (%v)", name, r, err)
		}
		return r.Answer[0].Header().Ttl
	}
	waitAllUp(t, "slow.example.org.", "127.0.0.1")
	// Right after a round, the next is about 10s away: TTL about 10 + 2.
	for range 5 {
		if got := ttl("slow.example.org."); got < 1 || got > 12 {
			t.Errorf("slow pool TTL %d, want at most next probe (<= 10.5s) + 2 x 1s", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := ttl("fast.example.org."); got != 5 {
		t.Errorf("fast pool TTL %d, want the adaptive minimum 5", got)
	}
}

// TestRegionPreferenceECS: clients whose EDNS Client Subnet falls in a
// region get that region's healthy targets; when the region has none they
// fall through to the pool's priority answer.
func TestRegionPreferenceECS(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org {
			region eu 198.51.100.0/24
			region us 203.0.113.0/24
			target 127.0.0.1 region eu
			target 127.0.0.2 region us
			target 127.0.0.3 priority 2
			check tcp://www.example.org:`+port+`
			interval 300ms
			timeout 200ms
			fall 1
		}
	}
}`)
	ask := func(subnet string) ([]string, *dns.EDNS0_SUBNET) {
		r, ecs := s.askECS(t, "www.example.org.", subnet)
		return addresses(r), ecs
	}
	waitAllUp(t, "www.example.org.", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	for _, tc := range []struct {
		subnet string
		want   string
	}{
		{"198.51.100.0", "[127.0.0.1]"},
		{"203.0.113.0", "[127.0.0.2]"},
		{"192.0.2.0", "[127.0.0.1 127.0.0.2]"}, // no region: priority across all
	} {
		got, ecs := ask(tc.subnet)
		if fmt.Sprint(got) != tc.want {
			t.Errorf("Client subnet %s: got %v, want %s", tc.subnet, got, tc.want)
		}
		if ecs == nil || ecs.SourceScope != 24 {
			t.Errorf("Client subnet %s: ECS echoed as %v, want scope 24", tc.subnet, ecs)
		}
	}
	bs[0].stop() // the eu region's only target
	waitFor(t, detectLimit, "eu clients to fall through", func() bool {
		got, _ := ask("198.51.100.0")
		return fmt.Sprint(got) == "[127.0.0.2]"
	})
}

// TestAdaptiveTTLCountsStreak: while a failure streak is being confirmed,
// no answer carries a TTL that outlives it: every answer given before the
// answer changed had a TTL ending no later than that change.
func TestAdaptiveTTLCountsStreak(t *testing.T) {
	bs, port := startBackends(t, nil, "127.0.0.1", "127.0.0.2")
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			target 127.0.0.2 priority 2
			check tcp://www.example.org:`+port+`
			interval 3s
			fast_interval 1s
			timeout 500ms
			fall 4
			watch off
			ttl 300
			adaptive_ttl 0 60
		}
	}
}`)
	waitAllUp(t, "www.example.org.", "127.0.0.1", "127.0.0.2")
	bs[0].stop()
	type seen struct {
		at  time.Time
		ttl uint32
	}
	var before []seen
	deadline := time.Now().Add(detectLimit + 3*time.Second)
	for {
		at := time.Now()
		r, err := s.query("udp", "www.example.org.", dns.TypeA)
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("Query: %v (%v)", r, err)
		}
		if got := r.Answer[0].(*dns.A).A.String(); got == "127.0.0.2" {
			changed := at
			for _, q := range before {
				if end := q.at.Add(time.Duration(q.ttl) * time.Second); end.After(changed.Add(500 * time.Millisecond)) {
					t.Errorf("An answer %s before the change had TTL %d: cached until %s after the change",
						changed.Sub(q.at).Round(time.Millisecond), q.ttl, end.Sub(changed).Round(time.Millisecond))
				}
			}
			return
		}
		before = append(before, seen{at, r.Answer[0].Header().Ttl})
		if time.Now().After(deadline) {
			t.Fatal("The answer never moved to the backup")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
