// Package fleet tests a fleet of real CoreDNS processes (./coredns, built
// with failover) sharing their probing through a real, embedded etcd.
package fleet

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/failover-dns/failover"
	"github.com/failover-dns/failover/e2e/etcdtest"
	"github.com/failover-dns/failover/e2e/replicas"
	"github.com/failover-dns/failover/fleet"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Place failover in the plugin chain as plugin/main.go does, for the
	// tests that run CoreDNS in this process (see leak_test.go).
	if err := dnsserver.SetDirectives(failover.Directives(dnsserver.Directives)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	goleak.VerifyTestMain(m)
}

// Timing of the pools under test: a backend that stops is DOWN after
// fall 2 rounds (interval 200ms, fast_interval 100ms), a lease of 2s.
const (
	interval = 200 * time.Millisecond
	lease    = 2 * time.Second
	// detection bounds when a replica's answer moves after a backend dies:
	// the pool's detection time (about two rounds) plus etcd's round trip,
	// loose for a loaded 2-core machine.
	detection = 5 * time.Second
)

// memberSpace is where the members' keys are (the default prefix, see
// docs/fleet.md's key layout): PREFIX/LAYOUT/m/MEMBER/live and
// PREFIX/LAYOUT/m/MEMBER/v/TARGET.
const memberSpace = "/failover/" + fleet.Layout + "/m/"

func memberKey(name string) string { return memberSpace + name + "/live" }

func verdictKey(member, target string) string { return memberSpace + member + "/v/" + target }

// liveKeys are the member keys among kvs.
func liveKeys(kvs []*mvccpb.KeyValue) []*mvccpb.KeyValue {
	var out []*mvccpb.KeyValue
	for _, kv := range kvs {
		if strings.HasSuffix(string(kv.Key), "/live") {
			out = append(out, kv)
		}
	}
	return out
}

// startEtcd runs an embedded etcd until the test ends.
func startEtcd(t *testing.T, opts etcdtest.Options) *etcdtest.Server {
	t.Helper()
	srv, err := etcdtest.Start(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// pair is a primary and a secondary backend on one port (a pool's check
// names one port for all its targets).
type pair struct {
	primary, secondary *replicas.Backend
	port               string
}

// newPair starts backends on primaryHost and secondaryHost, same port.
func newPair(t *testing.T, primaryHost, secondaryHost string) pair {
	t.Helper()
	for range 20 {
		p := replicas.NewBackend(t, net.JoinHostPort(primaryHost, "0"))
		s, err := tryBackend(t, net.JoinHostPort(secondaryHost, p.Port()))
		if err == nil {
			return pair{primary: p, secondary: s, port: p.Port()}
		}
		p.Close()
	}
	t.Fatal("no port free on both backend addresses")
	return pair{}
}

// tryBackend is NewBackend that reports a busy port instead of failing.
func tryBackend(t *testing.T, addr string) (b *replicas.Backend, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln.Close()
	return replicas.NewBackend(t, addr), nil
}

func host(b *replicas.Backend) string {
	h, _, _ := net.SplitHostPort(b.Addr())
	return h
}

// fleetOptions are the fleet stanza's lines, besides the endpoint.
type fleetOptions struct {
	probers int
	off     bool   // no fleet line: every replica on its own
	notify  string // a notify URL, if any
	extra   string // more lines inside the fleet block
}

// corefile is the one Corefile of every replica: the pool of www.example.org
// with the pair's backends as primary and secondary, in a fleet through
// endpoint. Each replica's name and address come from its environment.
func corefile(endpoint string, b pair, o fleetOptions) string {
	fleet := ""
	if !o.off {
		probers := ""
		if o.probers > 0 {
			probers = fmt.Sprintf("\n            probers %d", o.probers)
		}
		if o.extra != "" {
			probers += "\n            " + o.extra
		}
		fleet = `
        fleet etcd ` + endpoint + ` {
            member {$REPLICA}
            lease ` + lease.String() + probers + `
        }`
	}
	if o.notify != "" {
		fleet += "\n        notify " + o.notify
	}
	return `example.org:{$DNS_PORT} {
    bind {$DNS_HOST}
    failover {` + fleet + `
        status {$DNS_HOST}:{$STATUS_PORT}
        pool www.example.org {
            target ` + host(b.primary) + ` priority 1
            target ` + host(b.secondary) + ` priority 2
            check http://www.example.org:` + b.port + `/
            interval ` + interval.String() + `
            fast_interval 100ms
            timeout 150ms
            rise 2
            fall 2
            ttl 1
        }
    }
}
`
}

// start runs the named replicas of corefile.
func start(t *testing.T, corefile string, opts replicas.Options, names ...string) []*replicas.Replica {
	t.Helper()
	opts.Ports = append(opts.Ports, "STATUS_PORT")
	var out []*replicas.Replica
	for _, n := range names {
		out = append(out, replicas.Start(t, n, corefile, opts))
	}
	return out
}

// answer is what r answers for www.example.org's A over proto: the
// addresses joined, or the error.
func answer(r *replicas.Replica, proto string) string {
	m, err := r.Query("www.example.org", dns.TypeA, proto)
	if err != nil {
		return "error: " + err.Error()
	}
	if m.Rcode != dns.RcodeSuccess {
		return dns.RcodeToString[m.Rcode]
	}
	var ips []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	slices.Sort(ips)
	return strings.Join(ips, " ")
}

// waitAnswers waits until every replica answers want over UDP and TCP.
func waitAnswers(t *testing.T, rs []*replicas.Replica, want string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for _, r := range rs {
		for _, proto := range []string{"udp", "tcp"} {
			for {
				got := answer(r, proto)
				if got == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Replica %s answers %q over %s after %s, want %q", r.Name, got, proto, limit, want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// holdAnswers checks, for d, that every replica keeps answering want,
// polling each every 50 ms over UDP and TCP in turn.
func holdAnswers(t *testing.T, rs []*replicas.Replica, want string, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		proto := []string{"udp", "tcp"}[i%2]
		for _, r := range rs {
			if got := answer(r, proto); got != want {
				t.Fatalf("Replica %s answered %q over %s, want %q throughout", r.Name, got, proto, want)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// probersIn returns who probed b during d: the replicas whose count grew.
func probersIn(b *replicas.Backend, d time.Duration) []string {
	before := b.ByReplica()
	time.Sleep(d)
	var out []string
	for name, n := range b.ByReplica() {
		if name != "" && n > before[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// waitProbers waits until exactly want replicas probe b (over a window of
// five intervals), and returns them.
func waitProbers(t *testing.T, b *replicas.Backend, want int, limit time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := probersIn(b, 5*interval)
		if len(got) == want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Backend %s is probed by %v, want %d replicas (counts %v)", b.Addr(), got, want, b.ByReplica())
		}
	}
}

// without returns rs less the named replica.
func without(rs []*replicas.Replica, name string) []*replicas.Replica {
	return slices.DeleteFunc(slices.Clone(rs), func(r *replicas.Replica) bool { return r.Name == name })
}

// byName finds the named replica.
func byName(rs []*replicas.Replica, name string) *replicas.Replica {
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	return nil
}
