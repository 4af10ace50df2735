package health

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/testpki"

	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Each check type measures its own round-trip time (Result.RTT). The
// servers here delay what comes after the part that counts, so that the
// RTT stays well below the probe's whole duration; the bounds are loose
// enough for a loaded machine.

// slowPart is how long the servers below wait where a check's RTT must not.
const slowPart = 150 * time.Millisecond

// checkRTT fails unless r passed with an RTT of its own, at most its
// duration, and, when gap > 0, at least gap below it.
func checkRTT(t *testing.T, what string, r Result, gap time.Duration) {
	t.Helper()
	switch {
	case !r.OK:
		t.Fatalf("%s: got %+v, want success", what, r)
	case r.RTT <= 0 || r.RTT > r.Duration:
		t.Errorf("%s: RTT %s, duration %s: want 0 < RTT <= duration", what, r.RTT, r.Duration)
	case r.Duration-r.RTT < gap:
		t.Errorf("%s: RTT %s, duration %s: want the RTT at least %s below the duration", what, r.RTT, r.Duration, gap)
	}
}

// TestTCPRTTIsConnect: with send and expect, the reply's delay is not the
// RTT; the connect is.
func TestTCPRTTIsConnect(t *testing.T) {
	_, port := serveTCP(t, func(c net.Conn) {
		if line, _ := bufio.NewReader(c).ReadString('\n'); line == "PING\r\n" {
			time.Sleep(slowPart)
			c.Write([]byte("+PONG\r\n"))
		}
	})
	r := probeURL(t, CheckConfig{URL: "tcp://svc.example.org:" + port, Options: opts(`send PING\r\n`, "expect +PONG"), Timeout: 5 * time.Second})
	checkRTT(t, "Reply after 150ms", r, 100*time.Millisecond)
	_, port = serveTCP(t, closeAtOnce)
	checkRTT(t, "Connect only", probeURL(t, CheckConfig{URL: "tcp://svc.example.org:" + port, Timeout: 5 * time.Second}), 0)
}

// TestTLSRTTIsHandshake: the RTT of a tls check ends with the handshake.
func TestTLSRTTIsHandshake(t *testing.T) {
	ca := testpki.NewCA(t)
	port := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "mail.example.org")}}, nil)
	r := probeURL(t, CheckConfig{URL: "tls://mail.example.org:" + port, Options: opts("ca "+ca.File, "cert_min_days 7"), Timeout: 5 * time.Second})
	checkRTT(t, "Handshake", r, 0)
}

// slowBody answers /health with its headers at once and its body, "ok",
// slowPart later; / redirects to /health.
func slowBody(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/health" {
		http.Redirect(w, r, "/health", http.StatusFound)
		return
	}
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	time.Sleep(slowPart)
	w.Write([]byte("ok"))
}

// TestHTTPRTTIsFirstByte: the RTT of an http or https check ends with the
// response's first byte, not its body, on the direct exchange and on the
// client that follows redirects.
func TestHTTPRTTIsFirstByte(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(slowBody))
	defer srv.Close()
	ca := testpki.NewCA(t)
	tlsPort := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "www.example.org")}}, http.HandlerFunc(slowBody))
	base := "http://www.example.org:" + portOfAddr(t, srv.Listener.Addr().String())
	tlsBase := "https://www.example.org:" + tlsPort
	for _, tc := range []struct {
		name string
		url  string
		opts []string
	}{
		{"http", base + "/health", []string{"body_contains ok"}},
		{"http, redirected", base + "/", []string{"body_contains ok", "follow_redirects"}},
		{"https", tlsBase + "/health", []string{"body_contains ok", "ca " + ca.File}},
		{"https, redirected", tlsBase + "/", []string{"body_contains ok", "follow_redirects", "ca " + ca.File}},
	} {
		r := probeURL(t, CheckConfig{URL: tc.url, Options: opts(tc.opts...), Timeout: 5 * time.Second})
		checkRTT(t, tc.name, r, 100*time.Millisecond)
	}
}

// TestMonitorRTTFollowsFirstByte: a target's smoothed RTT is its http
// check's time to first byte, not the body's time.
func TestMonitorRTTFollowsFirstByte(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(slowBody))
	defer srv.Close()
	c, err := NewCheck(CheckConfig{URL: "http://www.example.org:" + portOfAddr(t, srv.Listener.Addr().String()) + "/health",
		Options: opts("body_contains ok"), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, rec := acquire(t, Spec{Addr: loopback, Checks: []*Check{c},
		Interval: 2 * time.Second, FastInterval: 2 * time.Second, Timeout: time.Second, Rise: 1, Fall: 1})
	rec.waitState(t, Up, firstVerdict)
	u := rec.snapshot()[0] // the first passed round sets the RTT
	if !u.Result.OK || u.RTT <= 0 || u.Result.Duration-u.RTT < 100*time.Millisecond {
		t.Errorf("First round: result %+v, RTT %s: want a passed round whose RTT is at least 100ms below its duration", u.Result, u.RTT)
	}
}

// TestDNSRTTIsTheReply: the RTT of a dns check is the reply's wait.
func TestDNSRTTIsTheReply(t *testing.T) {
	const wait = 60 * time.Millisecond
	mux := dns.NewServeMux()
	mux.HandleFunc("slow.example.org.", func(w dns.ResponseWriter, r *dns.Msg) {
		time.Sleep(wait)
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
	})
	port := serveDNS(t, mux)
	for _, transport := range []string{"udp", "tcp"} {
		r := probeURL(t, CheckConfig{URL: "dns://slow.example.org:" + port, Options: opts("transport " + transport), Timeout: 5 * time.Second})
		checkRTT(t, transport, r, 0)
		if r.RTT < wait {
			t.Errorf("%s: RTT %s, want at least the server's wait, %s", transport, r.RTT, wait)
		}
	}
}

// TestGRPCRTTIsTheAnswer: a grpc or grpcs check's RTT is the health call's
// answer, from the probe's start.
func TestGRPCRTTIsTheAnswer(t *testing.T) {
	_, _, port := serveGRPCHealth(t)
	checkRTT(t, "grpc", probeURL(t, CheckConfig{URL: "grpc://api.example.org:" + port, Timeout: 5 * time.Second}), 0)

	ca := testpki.NewCA(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{ca.Server(t, "api.example.org")}})))
	healthpb.RegisterHealthServer(srv, grpchealth.NewServer())
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	r := probeURL(t, CheckConfig{URL: "grpcs://api.example.org:" + portOfAddr(t, ln.Addr().String()), Options: opts("ca " + ca.File), Timeout: 5 * time.Second})
	checkRTT(t, "grpcs", r, 0)
}
