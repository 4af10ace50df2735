package failover

import (
	"context"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
)

// handlerFrom runs a plugin's real setup on a Corefile snippet and returns its handler.
func handlerFrom(b *testing.B, directive, input string) plugin.Handler {
	b.Helper()
	setup, err := caddy.DirectiveAction("dns", directive)
	if err != nil {
		b.Fatal(err)
	}
	c := caddy.NewTestController("dns", input)
	c.ServerBlockKeys = []string{"example.org."}
	if err := setup(c); err != nil {
		b.Fatal(err)
	}
	return dnsserver.GetConfig(c).Plugin[0](test.NextHandler(dns.RcodeNameError, nil))
}

// BenchmarkServeDNS compares the query path of a pool name with the hosts
// plugin answering the same two A records. Probing is not started: the
// answer is the prepared one either way.
func BenchmarkServeDNS(b *testing.B) {
	handlers := []struct {
		name string
		h    plugin.Handler
	}{
		{"failover", handlerFrom(b, "failover", `failover example.org {
			pool www.example.org {
				target 192.0.2.10
				target 192.0.2.11
				check tcp://www.example.org:80
			}
		}`)},
		{"hosts", handlerFrom(b, "hosts", `hosts {
			192.0.2.10 www.example.org
			192.0.2.11 www.example.org
		}`)},
	}
	ctx := context.WithValue(context.Background(), dnsserver.Key{}, &dnsserver.Server{Addr: "dns://:53"})
	for _, hc := range handlers {
		b.Run(hc.name, func(b *testing.B) {
			r := new(dns.Msg)
			r.SetQuestion("www.example.org.", dns.TypeA)
			w := &test.ResponseWriter{}
			rec := dnstest.NewRecorder(w)
			if _, err := hc.h.ServeDNS(ctx, rec, r); err != nil || len(rec.Msg.Answer) != 2 {
				b.Fatalf("%s: want 2 answers, got %v (%v)", hc.name, rec.Msg, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				hc.h.ServeDNS(ctx, w, r)
			}
		})
	}
}
