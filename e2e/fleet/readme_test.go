package fleet

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/internal/netns"
	"github.com/failover-dns/failover/internal/testpki"
	"github.com/failover-dns/failover/internal/wait"

	"github.com/miekg/dns"
)

// TestReadmeFleetExamples runs the fleet examples of the README and docs/ exactly as
// written, in a network namespace of the test's own where their addresses
// are local: a real etcd on the example's endpoint (https, asking for
// client certificates, auth on with the role docs/fleet.md shows), the TLS
// files the example names in the directory it loads from, the password
// from FLEET_PASSWORD, the secret from FLEET_SECRET. The member joins, publishes its verdicts, and every
// pool name gets answers for A, AAAA, MX and TXT over UDP and TCP.
func TestReadmeFleetExamples(t *testing.T) {
	if !netns.Own(t) {
		return
	}
	examples := fleetExamples(t)
	if len(examples) == 0 {
		t.Fatal("Neither README.md nor docs/ has a corefile example with a fleet")
	}
	for i, corefile := range examples {
		endpoint := fieldAfter(t, corefile, "fleet etcd")
		host := strings.TrimSuffix(strings.TrimPrefix(endpoint, "https://"), ":2379")
		dir := t.TempDir()
		files := exampleTLS(t, dir, host, strings.Fields(fieldLine(t, corefile, "tls"))[1:])
		etcd := startEtcd(t, etcdtest.Options{Host: host, ClientPort: 2379, TLS: files})
		const password = "example-password"
		if err := etcd.EnableAuth("/failover/", fieldAfter(t, corefile, "credentials"), password); err != nil {
			t.Fatal(err)
		}
		t.Setenv("FLEET_PASSWORD", password)
		t.Setenv("FLEET_SECRET", "example-secret-0123456789")
		t.Chdir(dir) // the example names its TLS files relative to the directory CoreDNS runs in

		inst, err := test.CoreDNSServer(corefile)
		if err != nil {
			t.Fatalf("Fleet example %d does not start: %v\n%s", i+1, err, corefile)
		}
		udp, tcp := test.CoreDNSServerPorts(inst, 0)
		client, err := etcd.Client()
		if err != nil {
			t.Fatal(err)
		}
		member := fieldAfter(t, corefile, "member")
		wait.For(t, 10*time.Second, 50*time.Millisecond, "the member to join and publish verdicts", func() bool {
			m, err1 := client.Get(context.Background(), memberKey(member))
			v, err2 := client.Get(context.Background(), memberSpace+member+"/v/", clientPrefix())
			return err1 == nil && err2 == nil && len(m.Kvs) == 1 && len(v.Kvs) > 0
		})
		for _, name := range poolNames(corefile) {
			for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT} {
				for proto, addr := range map[string]string{"udp": udp, "tcp": tcp} {
					m := new(dns.Msg)
					m.SetQuestion(dns.Fqdn(name), qtype)
					r, _, err := (&dns.Client{Net: proto, Timeout: 2 * time.Second}).Exchange(m, addr)
					if err != nil || (r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeServerFailure) {
						t.Errorf("Fleet example %d: %s %s over %s: %v %v", i+1, name, dns.TypeToString[qtype], proto, r, err)
					}
				}
			}
		}
		stop(inst)
	}
}

// fleetExamples returns the ~~~ corefile blocks with a fleet of the README
// and the guides of docs/.
func fleetExamples(t *testing.T) []string {
	guides, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var data strings.Builder
	for _, f := range append([]string{filepath.Join("..", "..", "README.md")}, guides...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data.Write(b)
	}
	var out []string
	for _, block := range strings.Split(data.String(), "~~~ corefile\n")[1:] {
		block = block[:strings.Index(block, "~~~")]
		if strings.Contains(block, "fleet etcd") {
			out = append(out, block)
		}
	}
	return out
}

// fieldLine returns the first line of corefile that starts with word.
func fieldLine(t *testing.T, corefile, word string) string {
	for _, line := range strings.Split(corefile, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, word+" ") {
			return l
		}
	}
	t.Fatalf("No %q line in the example:\n%s", word, corefile)
	return ""
}

// fieldAfter returns the word after the words of a line's start.
func fieldAfter(t *testing.T, corefile, words string) string {
	rest := strings.Fields(strings.TrimPrefix(fieldLine(t, corefile, words), words))
	return rest[0]
}

// poolNames returns the names of the example's pools.
func poolNames(corefile string) []string {
	var out []string
	for _, line := range strings.Split(corefile, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "pool" {
			out = append(out, f[1:len(f)-1]...)
		}
	}
	return out
}

// exampleTLS writes the example's TLS files into dir under the names it
// gives (client certificate, key, CA) and returns the server's side: a
// certificate for host from the same CA, which asks for client certificates.
func exampleTLS(t *testing.T, dir, host string, names []string) *etcdtest.TLS {
	if len(names) != 3 {
		t.Fatalf("tls line names %v, want a certificate, a key and a CA", names)
	}
	ca := testpki.NewCA(t)
	serverCert, serverKey := testpki.Files(t, ca.Server(t, host))
	clientCert, clientKey := testpki.Files(t, ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), x509.ExtKeyUsageClientAuth, "failover"))
	for i, src := range []string{clientCert, clientKey, ca.File} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, names[i]), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &etcdtest.TLS{CertFile: serverCert, KeyFile: serverKey, CAFile: ca.File, ClientCertAuth: true,
		ClientCertFile: clientCert, ClientKeyFile: clientKey}
}
