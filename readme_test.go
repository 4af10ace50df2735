package failover_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/coredns/coredns/test"

	"github.com/miekg/dns"
)

// corefileExamples returns the ~~~ corefile blocks of README.md.
func corefileExamples(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
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

var poolLine = regexp.MustCompile(`(?m)^\s*pool\s+([^{]+)\{`)

// TestReadmeExamples starts every Corefile example of README.md exactly as
// written (port 53 included) in a network namespace of its own, where the
// documentation addresses the examples probe are local and unused, and asks
// each pool name for its A records over UDP and TCP.
func TestReadmeExamples(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	examples := corefileExamples(t)
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
		names := poolLine.FindAllStringSubmatch(corefile, -1)
		if len(names) == 0 {
			t.Errorf("Example %d has no pool", i+1)
		}
		for _, m := range names {
			for _, name := range strings.Fields(m[1]) {
				// The examples' targets are unreachable here: a pool answers its
				// addresses or, where its all_down policy says so, SERVFAIL.
				for _, proto := range []string{"udp", "tcp"} {
					r, err := s.query(proto, name, dns.TypeA)
					switch {
					case err != nil:
						t.Errorf("Example %d: %s A over %s: %v", i+1, name, proto, err)
					case r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 && r.Authoritative, r.Rcode == dns.RcodeServerFailure:
					default:
						t.Errorf("Example %d: %s A over %s: got %v", i+1, name, proto, r)
					}
				}
			}
		}
		s.stop()
	}
}
