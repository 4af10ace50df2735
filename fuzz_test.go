package failover

import (
	"context"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
)

// FuzzParse feeds arbitrary Corefile stanzas to the parser: it may reject
// them, never panic.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"failover example.org {\n pool www.example.org {\n target 192.0.2.1 priority 2 weight 3 probe 10.0.0.1:81 region eu\n region eu 10.0.0.0/8 continent:EU\n check https://www.example.org/ {\n ca ca.pem\n status 200-299\n }\n policy hash\n min_healthy 50%\n all_down fallback 192.0.2.9\n failback 1m\n adaptive_ttl 1 30\n }\n}",
		"failover {\n pool a.example.org b.example.org {\n target ::1 probe [2001:db8::10]:81\n check dns://x.example.org:53 {\n type AAAA\n }\n require any\n check icmp://x\n }\n}",
		"failover example.org {\n overrides f 1s\n pool x {\n}\n}",
		"failover example.org {\n notify https://u:p@hooks.example.org/x?k=1 {\n events target_down\n header Authorization \"Bearer t\"\n format slack\n timeout 1s\n queue 5\n }\n pool x {\n}\n}",
		"failover example.org {\n pool bücher.example.org {}\n}",
		"failover example.org {\n fleet etcd https://u:p@192.0.2.10:2379 https://[2001:db8::1]:2379 {\n prefix /dns\n member dns-1\n probers 3\n quorum majority\n lease 5s\n credentials fleet {$P}\n tls c.pem k.pem ca.pem\n }\n pool x {\n}\n}",
		"failover example.org {\n pool www.example.org {\n target 192.0.2.1 priority\n check tcp://:0\n timeout 5s\n interval 1s\n }\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		c := caddy.NewTestController("dns", input)
		c.ServerBlockKeys = []string{"example.org."}
		parse(c)
	})
}

// FuzzServeDNS serves arbitrary messages from a configured pool: any reply
// or error is fine, a panic is not.
func FuzzServeDNS(f *testing.F) {
	fo, err := parse(caddy.NewTestController("dns", `failover example.org {
		pool www.example.org a.b.example.org {
			region eu 198.51.100.0/24
			target 192.0.2.1 region eu
			target 192.0.2.2 priority 2
			target 2001:db8::1
			check tcp://www.example.org:80
			policy hash
		}
	}`))
	if err != nil {
		f.Fatal(err)
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.example.org.", dns.TypeA}, {"WWW.example.org.", dns.TypeAAAA}, {"b.example.org.", dns.TypeMX}, {"x.example.org.", dns.TypeA}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(1232, true)
		wire, _ := m.Pack()
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil || len(m.Question) != 1 {
			return // the server drops what does not unpack, and CoreDNS refuses other question counts
		}
		fo.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), m)
	})
}

// FuzzParseOverrides feeds arbitrary overrides files to their parser: it
// may reject them, never panic, and what it accepts is well formed.
func FuzzParseOverrides(f *testing.F) {
	for _, seed := range []string{
		"www.example.org 192.0.2.1 drain maintenance window\n",
		"# comment only\n\n",
		"*.example.org 192.0.2.* down\nwww.example.org 2001:DB8::A up # back\n",
		"www.example.org 192.0.2.[12] up\nwww.example.org 192.0.2.1 maybe\n",
		"www.example.org 192.0.2.1\n",
		"[ 192.0.2.1 drain\n",
		"www.example.org\t192.0.2.1\tdrain\r\n",
		"bücher.example.org ::1 drain ünïcode reason\x00\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := parseOverrides("overrides", data)
		if err != nil {
			return
		}
		for _, r := range set.rules {
			if r.action == overrideNone || r.line < 1 {
				t.Fatalf("Accepted a rule without an action or line: %+v", r)
			}
		}
		set.lookup([]string{"www.example.org."}, "192.0.2.1")
	})
}
