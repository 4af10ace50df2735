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
func handlerFrom(b testing.TB, directive, input string) plugin.Handler {
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

// servedHandlers are the handlers BenchmarkServeDNS compares, each
// answering the same two A records for www.example.org.
func servedHandlers(tb testing.TB) []namedHandler {
	pool := func(policy string) string {
		return `failover example.org {
			pool www.example.org {
				target 192.0.2.10
				target 192.0.2.11
				check tcp://www.example.org:80
				` + policy + `
			}
		}`
	}
	return []namedHandler{
		{"failover", handlerFrom(tb, "failover", pool(""))},
		{"failover-fastest", handlerFrom(tb, "failover", pool("policy fastest\n max_answers 2"))},
		{"hosts", handlerFrom(tb, "hosts", `hosts {
			192.0.2.10 www.example.org
			192.0.2.11 www.example.org
		}`)},
	}
}

type namedHandler struct {
	name string
	h    plugin.Handler
}

var serveCtx = context.WithValue(context.Background(), dnsserver.Key{}, &dnsserver.Server{Addr: "dns://:53"})

// serveOnce asks h for www.example.org/A and expects the two addresses.
func serveOnce(tb testing.TB, hc namedHandler) *dns.Msg {
	r := new(dns.Msg)
	r.SetQuestion("www.example.org.", dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := hc.h.ServeDNS(serveCtx, rec, r); err != nil || len(rec.Msg.Answer) != 2 {
		tb.Fatalf("%s: want 2 answers, got %v (%v)", hc.name, rec.Msg, err)
	}
	return r
}

// BenchmarkServeDNS compares the query path of a pool name (with the
// default policy and with policy fastest) and the hosts plugin answering
// the same two A records. Probing is not started: the answer is the
// prepared one either way.
func BenchmarkServeDNS(b *testing.B) {
	for _, hc := range servedHandlers(b) {
		b.Run(hc.name, func(b *testing.B) {
			r := serveOnce(b, hc)
			w := &test.ResponseWriter{}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				hc.h.ServeDNS(serveCtx, w, r)
			}
		})
	}
}

// TestFastestQueryCostsAsPriority: policy fastest decides when rounds end,
// so a query allocates no more than under the default policy.
func TestFastestQueryCostsAsPriority(t *testing.T) {
	allocs := map[string]float64{}
	for _, hc := range servedHandlers(t)[:2] {
		r, w := serveOnce(t, hc), &test.ResponseWriter{}
		allocs[hc.name] = testing.AllocsPerRun(200, func() { hc.h.ServeDNS(serveCtx, w, r) })
	}
	if allocs["failover-fastest"] > allocs["failover"] {
		t.Errorf("A query allocates %g times under policy fastest, %g under priority", allocs["failover-fastest"], allocs["failover"])
	}
}
