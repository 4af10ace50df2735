package replicas

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/netns"
	"github.com/failover-dns/failover/internal/wait"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

// corefile serves www.example.org from hosts: one text for every replica,
// which each reads its port from.
func corefile(address string) string {
	return `example.org:{$DNS_PORT} {
    bind {$DNS_HOST}
    hosts {
        ` + address + ` www.example.org
    }
}
`
}

// addresses queries r over proto and returns the A records' addresses,
// failing the test if the query fails.
func addresses(t *testing.T, r *Replica, proto string) []string {
	t.Helper()
	m, err := r.Query("www.example.org", dns.TypeA, proto)
	if err != nil {
		t.Fatalf("Querying replica %s over %s: %v", r.Name, proto, err)
	}
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

func wantAddresses(t *testing.T, r *Replica, want string) {
	t.Helper()
	for _, proto := range []string{"udp", "tcp"} {
		if got := addresses(t, r, proto); !slices.Equal(got, []string{want}) {
			t.Errorf("Replica %s over %s answers %v, want [%s]", r.Name, proto, got, want)
		}
	}
}

// TestTwoReplicas runs two replicas of one Corefile, queries both over UDP
// and TCP, reloads one with a changed record (the other keeps its own),
// refuses a broken reload, kills the other and sees its port close,
// restarts it, and stops the first with SIGTERM.
func TestTwoReplicas(t *testing.T) {
	a := Start(t, "a", corefile("192.0.2.1"), Options{})
	b := Start(t, "b", corefile("192.0.2.1"), Options{})
	if a.DNS == b.DNS {
		t.Fatalf("Both replicas listen on %s", a.DNS)
	}
	wantAddresses(t, a, "192.0.2.1")
	wantAddresses(t, b, "192.0.2.1")

	if err := a.Reload(corefile("192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	wantAddresses(t, a, "192.0.2.2")
	wantAddresses(t, b, "192.0.2.1")

	err := a.Reload("example.org:{$DNS_PORT} {\n    bind {$DNS_HOST}\n    hosts {\n")
	if err == nil || !strings.Contains(err.Error(), "Restart failed") {
		t.Fatalf("A broken Corefile's reload returned %v, want CoreDNS's restart failure", err)
	}
	wantAddresses(t, a, "192.0.2.2") // the previous configuration serves on

	b.Kill()
	if !b.Exited() {
		t.Fatal("Replica b runs after Kill")
	}
	if _, err := b.Query("www.example.org", dns.TypeA, "udp"); err == nil {
		t.Error("Replica b answers over UDP after SIGKILL")
	}
	if c, err := net.DialTimeout("tcp", b.DNS, time.Second); err == nil {
		c.Close()
		t.Error("Replica b's TCP port accepts connections after SIGKILL")
	}
	wantAddresses(t, a, "192.0.2.2")

	b.Restart() // the same address and Corefile
	wantAddresses(t, b, "192.0.2.1")
	if n := strings.Count(b.Log(), "CoreDNS-"); n != 2 {
		t.Errorf("Replica b's log shows %d starts, want 2 (one log across restarts)", n)
	}

	if err := a.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if !strings.Contains(a.Log(), "SIGTERM: Shutting down") {
		t.Errorf("Replica a's log does not show the SIGTERM shutdown:\n%s", a.Log())
	}
}

// TestEnvironment: REPLICA, the named ports and extra variables reach the
// Corefile, and WaitLog finds a line.
func TestEnvironment(t *testing.T) {
	r := Start(t, "env", `example.org:{$DNS_PORT} {
    bind {$DNS_HOST}
    hosts {
        {$ADDRESS} {$REPLICA}.example.org
    }
    health 127.0.0.1:{$HEALTH_PORT}
    log
}
`, Options{Env: []string{"ADDRESS=192.0.2.9"}, Ports: []string{"HEALTH_PORT"}})
	m, err := r.Query("env.example.org", dns.TypeA, "udp")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.9" {
		t.Fatalf("env.example.org answers %v, want 192.0.2.9", m.Answer)
	}
	line := r.WaitLog(`"A IN env\.example\.org\. udp`, 5*time.Second)
	if !strings.Contains(line, "NOERROR") {
		t.Errorf("The query's log line %q does not say NOERROR", line)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port("HEALTH_PORT"))), time.Second)
	if err != nil {
		t.Fatalf("The health plugin does not listen on HEALTH_PORT: %v", err)
	}
	c.Close()
}

// poolCorefile probes backend every 200ms from a failover pool; tag adds
// the check header naming the replica. The timeout is as long as it can
// be: a probe the replica gives up on may be counted unattributed (see
// Backend).
func poolCorefile(backend *Backend, tag bool) string {
	host, _, _ := net.SplitHostPort(backend.Addr())
	check := "check http://www.example.org:" + backend.Port() + "/"
	if tag {
		check += " {\n                header " + TagHeader + " {$REPLICA}\n            }"
	}
	return `example.org:{$DNS_PORT} {
    bind {$DNS_HOST}
    failover {
        pool www.example.org {
            target ` + host + `
            ` + check + `
            interval 200ms
            timeout 190ms
        }
    }
}
`
}

// TestBackendCountsProbesByReplica: two replicas probe one backend; it
// attributes each probe to its replica, by the connection's process
// (untagged) or by the tag header, and a killed replica's count stops.
func TestBackendCountsProbesByReplica(t *testing.T) {
	backend := NewBackend(t, "127.0.0.1:0")
	a := Start(t, "a", poolCorefile(backend, false), Options{})
	Start(t, "b", poolCorefile(backend, true), Options{})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(backend)
		}
	})
	wait.For(t, 10*time.Second, 20*time.Millisecond, "probes from both replicas", func() bool {
		return backend.Probes("a") >= 3 && backend.Probes("b") >= 3
	})
	if n := backend.Probes(""); n != 0 {
		t.Errorf("%d probes not attributed: %v", n, backend)
	}
	a.Kill()
	stopped := backend.Probes("a")
	more := backend.Probes("b") + 3
	wait.For(t, 10*time.Second, 20*time.Millisecond, "more probes from b", func() bool { return backend.Probes("b") >= more })
	// A probe a sent just before it died may be counted after: as a's if
	// the backend accepted its connection first, else as unattributed.
	if n := backend.Probes("a") + backend.Probes(""); n > stopped+1 {
		t.Errorf("Replica a, killed, still probes: %v after a:%d", backend, stopped)
	}
	if got := backend.Total(); got != backend.Probes("a")+backend.Probes("b")+backend.Probes("") {
		t.Errorf("Total %d is not the sum of the counts: %v", got, backend)
	}
}

// TestSocketInode: the kernel names the socket of a connection this process
// made, and this process holds it.
func TestSocketInode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src, dst := c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
	inode, err := socketInode("/proc/self/ns/net", src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if !holds(strconv.Itoa(os.Getpid()), inode) {
		t.Errorf("The socket inode %d is not among this process's files", inode)
	}
	// The accepted end is another socket; reversed addresses name it.
	if back, err := socketInode("/proc/self/ns/net", dst, src); err != nil || back == inode || back == 0 {
		t.Errorf("The accepted end's inode is %d (%v), want another than %d", back, err, inode)
	}
	if _, err := socketInode("/proc/self/ns/net", src, netip.AddrPortFrom(dst.Addr(), dst.Port()+1)); err == nil {
		t.Error("A connection that does not exist has an inode")
	}
}

// TestNetNS runs a replica inside a peer network namespace and probes
// from there: queries reach it over the veth pair, and its probes come
// from its own address.
func TestNetNS(t *testing.T) {
	netns.Needs(t, "nsenter")
	if !netns.Own(t) {
		return
	}
	peer := netns.NewPeer(t, "169.254.0.1/30", "169.254.0.2/30")
	backend := NewBackend(t, "169.254.0.1:0")
	r := Start(t, "inside", poolCorefile(backend, false), Options{NetNS: peer.Path(), Host: "169.254.0.2"})
	if host, _, _ := net.SplitHostPort(r.DNS); host != "169.254.0.2" {
		t.Fatalf("DNS address %s, want one on 169.254.0.2", r.DNS)
	}
	m, err := r.Query("www.example.org", dns.TypeA, "tcp")
	if err != nil {
		t.Fatalf("Querying the replica in the peer namespace: %v", err)
	}
	if m.Rcode != dns.RcodeSuccess {
		t.Fatalf("Rcode %s", dns.RcodeToString[m.Rcode])
	}
	wait.For(t, 10*time.Second, 20*time.Millisecond, "probes from the namespace", func() bool {
		return backend.Probes("inside") >= 3
	})
	if got := backend.BySource(); got["169.254.0.2"] != backend.Total() {
		t.Errorf("Probes by source %v, want all from 169.254.0.2", got)
	}
}

// TestMain checks that no goroutine outlives the tests (the backends' and
// those waiting on the processes).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
