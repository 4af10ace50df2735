package failover_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	"github.com/failover-dns/failover/internal/netns"

	"github.com/miekg/dns"
)

// documentation returns README.md and the guides of docs/, one after the
// other: every Corefile example in them is run.
func documentation(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, f := range append([]string{"README.md"}, files...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(data)
		all.WriteString("\n")
	}
	return all.String()
}

// corefileExamples returns the ~~~ corefile blocks of README.md and docs/.
func corefileExamples(t *testing.T) []string {
	t.Helper()
	data := documentation(t)
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(data, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "~~~ corefile":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "~~~":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

var (
	poolLine     = regexp.MustCompile(`(?m)^\s*pool\s+([^{]+)\{`)
	blockLine    = regexp.MustCompile(`(?m)^(\S+)\s*\{`)
	failoverLine = regexp.MustCompile(`(?m)^\s*failover\s+([^{]+)\{`)
	statusLine   = regexp.MustCompile(`(?m)^\s*status\s+(\S+:[0-9]+)\s*\{?\s*$`)
)

// exampleZones returns the zones failover serves in a Corefile example:
// the failover line's zones, else the server block's.
func exampleZones(corefile string) []string {
	if m := failoverLine.FindStringSubmatch(corefile); m != nil {
		return strings.Fields(m[1])
	}
	var zones []string
	for _, m := range blockLine.FindAllStringSubmatch(corefile, -1) {
		zones = append(zones, m[1])
	}
	return zones
}

// TestReadmeExamples starts every Corefile example of README.md exactly as
// written (port 53 included) in a network namespace of its own, where the
// documentation addresses the examples probe are local and unused, and asks
// each pool name for A, AAAA, MX and TXT, and each zone apex for its SOA,
// over UDP and TCP.
func TestReadmeExamples(t *testing.T) {
	if !netns.Own(t) {
		return
	}
	startUpstream(t, "192.0.2.53:53")
	// A fleet's examples need a real etcd (and their TLS files): the e2e
	// module runs them (e2e/fleet's TestReadmeFleetExamples).
	examples := slices.DeleteFunc(corefileExamples(t), func(c string) bool { return strings.Contains(c, "fleet etcd") })
	if len(examples) < 3 {
		t.Fatalf("Found %d corefile examples in README.md, expected at least 3", len(examples))
	}
	for i, corefile := range examples {
		inst, err := test.CoreDNSServer(corefile)
		if err != nil {
			t.Fatalf("Example %d does not start: %v\n%s", i+1, err, corefile)
		}
		s := &coreDNS{inst: inst}
		s.udp, s.tcp = test.CoreDNSServerPorts(inst, 0)
		s.waitServing(t)
		names := poolLine.FindAllStringSubmatch(corefile, -1)
		if len(names) == 0 {
			t.Errorf("Example %d has no pool", i+1)
		}
		// Replies that come from forward's upstream are not authoritative.
		forwards := strings.Contains(corefile, "forward ")
		for _, m := range names {
			for _, name := range strings.Fields(m[1]) {
				for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT} {
					checkExampleAnswer(t, s, i+1, dns.Fqdn(name), qtype, forwards)
				}
			}
		}
		if m := statusLine.FindStringSubmatch(corefile); m != nil {
			checkExampleStatus(t, i+1, m[1], len(names))
		}
		for _, zone := range exampleZones(corefile) {
			if zone != "." {
				checkExampleAnswer(t, s, i+1, dns.Fqdn(zone), dns.TypeSOA, forwards)
			}
		}
		s.stop()
	}
}

// checkExampleAnswer asks qname/qtype over UDP and TCP. The examples'
// targets are unreachable here: A and AAAA get addresses (failing open),
// NODATA (no target of the family) or, where the pool's all_down or startup
// policy says so, SERVFAIL. Other types get NOERROR, authoritative unless
// the example forwards them to an upstream.
func checkExampleAnswer(t *testing.T, s *coreDNS, example int, qname string, qtype uint16, forwards bool) {
	t.Helper()
	address := qtype == dns.TypeA || qtype == dns.TypeAAAA
	for _, proto := range []string{"udp", "tcp"} {
		r, err := s.query(proto, qname, qtype)
		switch {
		case err != nil:
			t.Errorf("Example %d: %s %s over %s: %v", example, qname, dns.TypeToString[qtype], proto, err)
		case r.Rcode == dns.RcodeServerFailure && address:
		case r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0 && (len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA):
			t.Errorf("Example %d: %s %s over %s: NODATA without the SOA: %v", example, qname, dns.TypeToString[qtype], proto, r)
		case r.Rcode == dns.RcodeSuccess && (r.Authoritative || (forwards && len(r.Answer) == 0)):
		default:
			t.Errorf("Example %d: %s %s over %s: got %v", example, qname, dns.TypeToString[qtype], proto, r)
		}
	}
}

// startUpstream serves addr (UDP and TCP) as the upstream the examples
// forward to: it knows no name, so it answers NXDOMAIN (with the root's
// SOA, as a real resolver would) to everything. It
// shares port 53 with the examples (SO_REUSEPORT, as CoreDNS binds), and
// the kernel gives its own address to the more specific socket.
func startUpstream(t *testing.T, addr string) {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
			Ns: "a.root-servers.net.", Mbox: "nstld.verisign-grs.com.", Serial: 1, Refresh: 1800, Retry: 900, Expire: 604800, Minttl: 60}}
		w.WriteMsg(m)
	})
	for _, proto := range []string{"udp", "tcp"} {
		started := make(chan struct{})
		srv := &dns.Server{Addr: addr, Net: proto, Handler: handler, ReusePort: true, ReuseAddr: true, NotifyStartedFunc: func() { close(started) }}
		go srv.ListenAndServe()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatalf("The upstream on %s/%s did not start", addr, proto)
		}
		t.Cleanup(func() { srv.Shutdown() })
	}
}

// checkExampleStatus reads an example's status API and expects its pools.
func checkExampleStatus(t *testing.T, example int, addr string, pools int) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/api/v1/status")
	if err != nil {
		t.Errorf("Example %d: status API: %v", example, err)
		return
	}
	defer resp.Body.Close()
	var body struct{ Pools []json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || len(body.Pools) != pools {
		t.Errorf("Example %d: status API: %s, %d pools (%v), want %d", example, resp.Status, len(body.Pools), err, pools)
	}
}
