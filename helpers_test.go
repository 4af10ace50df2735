package failover_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/test"
	"github.com/failover-dns/failover"
	"github.com/failover-dns/failover/internal/wait"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func TestMain(m *testing.M) {
	// Place failover in the plugin chain as plugin/main.go does.
	if err := dnsserver.SetDirectives(failover.Directives(dnsserver.Directives)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// coreDNS is a CoreDNS instance started from a Corefile.
type coreDNS struct {
	inst *caddy.Instance
	udp  string
	tcp  string
}

func startCoreDNS(t *testing.T, corefile string) *coreDNS {
	t.Helper()
	inst, udp, tcp, err := test.CoreDNSServerAndPorts(corefile)
	if err != nil {
		t.Fatalf("Could not start CoreDNS: %v\n%s", err, corefile)
	}
	s := &coreDNS{inst: inst, udp: udp, tcp: tcp}
	t.Cleanup(s.stop)
	s.waitServing(t)
	return s
}

// waitServing polls until the servers answer over UDP and TCP. caddy
// starts a server's loop in a goroutine of its own, and CoreDNS cannot stop
// a server whose loop has not begun: a reload or stop that came first would
// leave that loop running forever, and the test's stop would wait on it.
// After a reload, the previous servers are stopped, so an answer comes from
// the new ones.
func (s *coreDNS) waitServing(t *testing.T) {
	t.Helper()
	waitFor(t, 10*time.Second, "the servers to answer over UDP and TCP", func() bool {
		for _, proto := range []string{"udp", "tcp"} {
			if _, err := s.query(proto, "serving.invalid.", dns.TypeSOA); err != nil {
				return false
			}
		}
		return true
	})
}

// restart reloads the Corefile as the reload plugin does.
func (s *coreDNS) restart(t *testing.T, corefile string) {
	t.Helper()
	inst, err := s.inst.Restart(test.NewInput(corefile))
	if err != nil {
		t.Fatalf("Could not restart CoreDNS: %v", err)
	}
	s.inst = inst
	s.udp, s.tcp = test.CoreDNSServerPorts(inst, 0)
	s.waitServing(t)
}

func (s *coreDNS) stop() {
	if s.inst == nil {
		return
	}
	s.inst.ShutdownCallbacks()
	s.inst.Stop()
	s.inst.Wait()
	s.inst = nil
}

// query asks qname/qtype over "udp" or "tcp".
func (s *coreDNS) query(proto, qname string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(qname), qtype)
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	addr := s.udp
	if proto == "tcp" {
		addr = s.tcp
	}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// askECS asks qname A over UDP with an EDNS Client Subnet option for
// subnet/24 and returns the reply and the client subnet option it echoes.
func (s *coreDNS) askECS(t *testing.T, qname, subnet string) (*dns.Msg, *dns.EDNS0_SUBNET) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, dns.TypeA)
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(1232)
	opt.Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP(subnet).To4()}}
	m.Extra = []dns.RR{opt}
	r, err := dns.Exchange(m, s.udp)
	if err != nil {
		t.Fatalf("Query from %s: %v", subnet, err)
	}
	var echoed *dns.EDNS0_SUBNET
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if ecs, ok := e.(*dns.EDNS0_SUBNET); ok {
				echoed = ecs
			}
		}
	}
	return r, echoed
}

// addresses returns the sorted A/AAAA addresses of a reply.
func addresses(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}

// answers queries over UDP and TCP and returns the addresses, or an error
// when the two transports disagree or the reply is not an authoritative
// NOERROR.
func (s *coreDNS) answers(qname string, qtype uint16) ([]string, error) {
	var got [2][]string
	for i, proto := range []string{"udp", "tcp"} {
		r, err := s.query(proto, qname, qtype)
		if err != nil {
			return nil, err
		}
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
			return nil, fmt.Errorf("%s: rcode %s, authoritative %v", proto, dns.RcodeToString[r.Rcode], r.Authoritative)
		}
		got[i] = addresses(r)
	}
	if !slices.Equal(got[0], got[1]) {
		return nil, fmt.Errorf("UDP answered %v but TCP %v", got[0], got[1])
	}
	return got[0], nil
}

// waitAnswer polls until qname answers exactly want (over UDP and TCP) and
// returns how long that took. It fails the test after limit.
func (s *coreDNS) waitAnswer(t *testing.T, qname string, qtype uint16, limit time.Duration, want ...string) time.Duration {
	t.Helper()
	slices.Sort(want)
	start := time.Now()
	var got []string
	var err error
	for time.Since(start) < limit {
		got, err = s.answers(qname, qtype)
		if err == nil && slices.Equal(got, want) {
			return time.Since(start)
		}
		time.Sleep(15 * time.Millisecond)
	}
	t.Fatalf("%s %s: wanted %v within %s, last got %v (error %v)", qname, dns.TypeToString[qtype], want, limit, got, err)
	return 0
}

// waitFor polls cond every 20 ms until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	wait.For(t, limit, 20*time.Millisecond, what, cond)
}

// backend is an HTTP server on one address that a test can kill and bring back.
type backend struct {
	t       *testing.T
	addr    string
	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
	ln      net.Listener
	hole    net.Listener // while blackholed
}

// startBackends starts one HTTP backend per IP, all on the same port, and
// returns them with that port.
func startBackends(t *testing.T, handler http.Handler, ips ...string) ([]*backend, string) {
	t.Helper()
	if handler == nil {
		handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	}
	lns, port := listenSamePort(t, ips...)
	var bs []*backend
	for i, ln := range lns {
		b := &backend{t: t, addr: net.JoinHostPort(ips[i], port), handler: handler}
		b.serve(ln)
		t.Cleanup(b.stop)
		bs = append(bs, b)
	}
	return bs, port
}

// listenSamePort opens TCP listeners on one port number at each of ips.
func listenSamePort(t *testing.T, ips ...string) ([]net.Listener, string) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		if lns, port, err := tryListenSamePort(ips); err == nil {
			return lns, port
		}
	}
	t.Fatalf("Could not find a port free on all of %v", ips)
	return nil, ""
}

func tryListenSamePort(ips []string) ([]net.Listener, string, error) {
	first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
	if err != nil {
		return nil, "", err
	}
	_, port, _ := net.SplitHostPort(first.Addr().String())
	lns := []net.Listener{first}
	for _, ip := range ips[1:] {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, "", err
		}
		lns = append(lns, ln)
	}
	return lns, port, nil
}

func (b *backend) serve(ln net.Listener) {
	srv := &http.Server{Handler: b.handler, ReadHeaderTimeout: time.Minute}
	b.mu.Lock()
	b.srv, b.ln = srv, ln
	b.mu.Unlock()
	go srv.Serve(ln)
}

// stop kills the backend: its listener and every connection close at once.
func (b *backend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
	if b.hole != nil {
		b.hole.Close()
		b.hole = nil
	}
}

// blackhole makes the backend accept nothing and answer nothing, as when a
// network path silently drops packets: connections already open stay open
// and silent, and new ones sit in a listen queue nobody reads.
func (b *backend) blackhole() {
	b.t.Helper()
	b.mu.Lock()
	b.ln.Close()
	b.mu.Unlock()
	var hole net.Listener
	var err error
	waitFor(b.t, 5*time.Second, "rebinding "+b.addr, func() bool {
		hole, err = net.Listen("tcp", b.addr)
		return err == nil
	})
	b.mu.Lock()
	b.hole = hole
	b.mu.Unlock()
}

// start brings a stopped backend back on the same address.
func (b *backend) start() {
	b.t.Helper()
	var ln net.Listener
	var err error
	waitFor(b.t, 5*time.Second, "rebinding "+b.addr, func() bool {
		ln, err = net.Listen("tcp", b.addr)
		return err == nil
	})
	b.serve(ln)
}

// metricValue returns the value of a counter or gauge in the default
// registry whose labels include want, or -1 when there is none.
func metricValue(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}
