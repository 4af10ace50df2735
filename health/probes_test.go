package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/testpki"

	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

func tlsServer(t *testing.T, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	if h == nil {
		h = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are what these tests provoke
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return portOfAddr(t, srv.Listener.Addr().String())
}

func TestHTTPSCertificates(t *testing.T) {
	ca := testpki.NewCA(t)
	other := testpki.NewCA(t) // nobody trusts it
	good := ca.Server(t, "www.example.org")
	expired := ca.Issue(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), x509.ExtKeyUsageServerAuth, "www.example.org")
	selfSigned := other.Server(t, "www.example.org")

	var sni atomic.Value
	goodPort := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{good}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni.Store(h.ServerName)
		return nil, nil
	}}, nil)
	expiredPort := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{expired}}, nil)
	selfPort := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{selfSigned}}, nil)
	tls12Port := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{good}, MaxVersion: tls.VersionTLS12}, nil)
	clientCA := x509.NewCertPool()
	clientCA.AddCert(ca.Cert)
	mtlsPort := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{good}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA}, nil)
	clientCert, clientKey := testpki.Files(t, ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), x509.ExtKeyUsageClientAuth, "prober.example.org"))

	for _, tc := range []struct {
		name string
		url  string
		opts []string
		ok   bool
	}{
		{"good certificate, right host", "https://www.example.org:" + goodPort + "/", []string{"ca " + ca.File}, true},
		{"good certificate, system roots", "https://www.example.org:" + goodPort + "/", nil, false},
		{"wrong host", "https://api.example.org:" + goodPort + "/", []string{"ca " + ca.File}, false},
		{"wrong host, server_name fixes it", "https://api.example.org:" + goodPort + "/", []string{"ca " + ca.File, "server_name www.example.org"}, true},
		{"expired", "https://www.example.org:" + expiredPort + "/", []string{"ca " + ca.File}, false},
		{"self-signed", "https://www.example.org:" + selfPort + "/", []string{"ca " + ca.File}, false},
		{"self-signed, insecure", "https://www.example.org:" + selfPort + "/", []string{"insecure"}, true},
		{"TLS 1.2 server", "https://www.example.org:" + tls12Port + "/", []string{"ca " + ca.File}, true},
		{"TLS 1.2 server, tls_min 1.3", "https://www.example.org:" + tls12Port + "/", []string{"ca " + ca.File, "tls_min 1.3"}, false},
		{"mTLS without client certificate", "https://www.example.org:" + mtlsPort + "/", []string{"ca " + ca.File}, false},
		{"mTLS with client certificate", "https://www.example.org:" + mtlsPort + "/", []string{"ca " + ca.File, "client_cert " + clientCert + " " + clientKey}, true},
	} {
		r := probeURL(t, CheckConfig{URL: tc.url, Options: opts(tc.opts...)})
		if r.OK != tc.ok {
			t.Errorf("%s: got %+v, want ok=%v", tc.name, r, tc.ok)
		}
		if !tc.ok && r.Reason != ReasonTLS && r.Reason != ReasonReset {
			t.Errorf("%s: reason %q, want %q", tc.name, r.Reason, ReasonTLS)
		}
	}
	if got := sni.Load(); got != "www.example.org" {
		t.Errorf("SNI: got %v, want www.example.org", got)
	}
}

func TestTLSProbeCertificateLifetime(t *testing.T) {
	ca := testpki.NewCA(t)
	port := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "mail.example.org")}}, nil) // valid 30 days
	base := "tls://mail.example.org:" + port
	if r := probeURL(t, CheckConfig{URL: base, Options: opts("ca " + ca.File)}); !r.OK {
		t.Errorf("Handshake with a trusted certificate: got %+v", r)
	}
	if r := probeURL(t, CheckConfig{URL: base}); r.OK || r.Reason != ReasonTLS {
		t.Errorf("Untrusted certificate: got %+v, want %q", r, ReasonTLS)
	}
	if r := probeURL(t, CheckConfig{URL: base, Options: opts("ca "+ca.File, "cert_min_days 7")}); !r.OK {
		t.Errorf("30 days left, 7 required: got %+v", r)
	}
	if r := probeURL(t, CheckConfig{URL: base, Options: opts("ca "+ca.File, "cert_min_days 60")}); r.OK || r.Reason != ReasonCertExpiry {
		t.Errorf("30 days left, 60 required: got %+v, want %q", r, ReasonCertExpiry)
	}
}

func TestHTTPOptions(t *testing.T) {
	var method, token, host atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		method.Store(r.Method)
		token.Store(r.Header.Get("X-Token"))
		host.Store(r.Host)
		w.Write([]byte(`{"status": "up", "db": "ok"}`))
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/health", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) { time.Sleep(150 * time.Millisecond) })
	mux.HandleFunc("/byname", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/health", http.StatusFound) // absolute, naming the check's host
	})
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.example.net/health", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := "http://www.example.org:" + portOfAddr(t, srv.Listener.Addr().String())

	for _, tc := range []struct {
		name   string
		path   string
		opts   []string
		reason string // "" for success
	}{
		{"HEAD with a header", "/health", []string{"method HEAD", "header X-Token s3cret"}, ""},
		{"404 refused by default", "/missing", nil, "status_404"},
		{"404 accepted by status list", "/missing", []string{"status 200 404"}, ""},
		{"404 outside a range", "/missing", []string{"status 200-299 500-599"}, "status_404"},
		{"body contains", "/health", []string{`body_contains "up"`}, ""},
		{"body lacks", "/health", []string{`body_contains down`}, ReasonMismatch},
		{"body regex", "/health", []string{`body_regex "status\":\s*\"up\""`}, ""},
		{"body regex fails", "/health", []string{`body_regex "db\":\s*\"failed\""`}, ReasonMismatch},
		{"redirect not followed", "/old", nil, "status_301"},
		{"redirect followed when asked", "/old", []string{"follow_redirects"}, ""},
		{"absolute redirect to the check's host stays on the target", "/byname", []string{"follow_redirects"}, ""},
		{"redirect to another host is not followed", "/away", []string{"follow_redirects"}, "status_302"},
		{"slower than max_latency", "/slow", []string{"max_latency 50ms"}, ReasonSlow},
		{"Host header override", "/health", []string{"header Host status.example.net"}, ""},
	} {
		var lines []Option
		for i, l := range tc.opts {
			name, rest, _ := strings.Cut(l, " ")
			lines = append(lines, Option{Name: name, Args: splitQuoted(rest), Line: i + 1})
		}
		r := probeURL(t, CheckConfig{URL: base + tc.path, Options: lines})
		if r.OK != (tc.reason == "") || r.Reason != tc.reason {
			t.Errorf("%s: got %+v, want reason %q", tc.name, r, tc.reason)
		}
		if tc.name == "HEAD with a header" && (method.Load() != "HEAD" || token.Load() != "s3cret") {
			t.Errorf("%s: server saw method %v and X-Token %v", tc.name, method.Load(), token.Load())
		}
		if tc.name == "Host header override" && host.Load() != "status.example.net" {
			t.Errorf("%s: server saw Host %v", tc.name, host.Load())
		}
	}
}

// splitQuoted splits like the Corefile lexer: on spaces, keeping "quoted" parts whole.
func splitQuoted(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			end := 1
			for end < len(s) && (s[end] != '"' || s[end-1] == '\\') {
				end++
			}
			out = append(out, strings.ReplaceAll(s[1:end], `\"`, `"`))
			s = s[min(end+1, len(s)):]
			continue
		}
		word, rest, _ := strings.Cut(s, " ")
		out = append(out, word)
		s = rest
	}
	return out
}

func TestTCPBanner(t *testing.T) {
	_, port := serveTCP(t, func(c net.Conn) {
		c.Write([]byte("220 mail.example.org ESMTP ready\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if line == "PING\r\n" {
			c.Write([]byte("+PONG\r\n"))
		}
	})
	base := "tcp://mail.example.org:" + port
	for _, tc := range []struct {
		name   string
		opts   []Option
		reason string
	}{
		{"banner", []Option{{Name: "expect", Args: []string{"220 "}}}, ""},
		{"wrong banner", []Option{{Name: "expect", Args: []string{"554 "}}}, ReasonMismatch},
		{"send and expect", []Option{{Name: "send", Args: []string{`PING\r\n`}}, {Name: "expect", Args: []string{"+PONG"}}}, ""},
		{"send, wrong reply", []Option{{Name: "send", Args: []string{`PING\r\n`}}, {Name: "expect", Args: []string{"+OK"}}}, ReasonMismatch},
	} {
		r := probeURL(t, CheckConfig{URL: base, Options: tc.opts})
		if r.OK != (tc.reason == "") || r.Reason != tc.reason {
			t.Errorf("%s: got %+v, want reason %q", tc.name, r, tc.reason)
		}
	}
}

// serveGRPCHealth serves the standard gRPC health service on a loopback
// port until the test ends or the server is stopped.
func serveGRPCHealth(t *testing.T) (*grpc.Server, *grpchealth.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := grpchealth.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return srv, hs, portOfAddr(t, ln.Addr().String())
}

func TestGRPCHealth(t *testing.T) {
	srv, hs, port := serveGRPCHealth(t)
	base := "grpc://api.example.org:" + port
	service := []Option{{Name: "service", Args: []string{"example.v1.Orders"}}}

	hs.SetServingStatus("example.v1.Orders", healthpb.HealthCheckResponse_SERVING)
	if r := probeURL(t, CheckConfig{URL: base, Options: service}); !r.OK {
		t.Errorf("SERVING: got %+v", r)
	}
	if r := probeURL(t, CheckConfig{URL: base}); !r.OK {
		t.Errorf("Overall server health (no service): got %+v", r)
	}
	hs.SetServingStatus("example.v1.Orders", healthpb.HealthCheckResponse_NOT_SERVING)
	if r := probeURL(t, CheckConfig{URL: base, Options: service}); r.OK || r.Reason != ReasonNotServing {
		t.Errorf("NOT_SERVING: got %+v, want %q", r, ReasonNotServing)
	}
	if r := probeURL(t, CheckConfig{URL: base, Options: []Option{{Name: "service", Args: []string{"unknown.Service"}}}}); r.OK || r.Reason != ReasonNotServing {
		t.Errorf("Unknown service: got %+v, want %q", r, ReasonNotServing)
	}
	hs.SetServingStatus("example.v1.Orders", healthpb.HealthCheckResponse_SERVING)
	if r := probeURL(t, CheckConfig{URL: base, Options: service}); !r.OK {
		t.Errorf("SERVING again: got %+v", r)
	}
	srv.Stop()
	if r := probeURL(t, CheckConfig{URL: base, Options: service}); r.OK {
		t.Errorf("Stopped server: got %+v, want a failure", r)
	}
}

// TestGRPCSHealth: a grpcs check verifies the server's certificate against
// the URL's host (or server_name), sends it as SNI, and sends the URL's
// host:port as :authority, as an https check does its Host header.
func TestGRPCSHealth(t *testing.T) {
	ca := testpki.NewCA(t)
	var sni, authority atomic.Value
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "api.example.org")}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni.Store(h.ServerName)
		return nil, nil
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)), grpc.UnaryInterceptor(
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if md, ok := metadata.FromIncomingContext(ctx); ok && len(md[":authority"]) > 0 {
				authority.Store(md[":authority"][0])
			}
			return handler(ctx, req)
		}))
	healthpb.RegisterHealthServer(srv, grpchealth.NewServer())
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	port := portOfAddr(t, ln.Addr().String())

	for _, tc := range []struct {
		name   string
		url    string
		opts   []string
		reason string
		sni    string
	}{
		{"trusted", "grpcs://api.example.org:" + port, []string{"ca " + ca.File}, "", "api.example.org"},
		{"untrusted", "grpcs://api.example.org:" + port, nil, ReasonTLS, "api.example.org"},
		{"wrong host", "grpcs://www.example.org:" + port, []string{"ca " + ca.File}, ReasonTLS, "www.example.org"},
		{"wrong host, server_name fixes it", "grpcs://www.example.org:" + port, []string{"ca " + ca.File, "server_name api.example.org"}, "", "api.example.org"},
	} {
		sni.Store("")
		authority.Store("")
		r := probeURL(t, CheckConfig{URL: tc.url, Options: opts(tc.opts...)})
		if r.OK != (tc.reason == "") || r.Reason != tc.reason {
			t.Errorf("%s: got %+v, want reason %q", tc.name, r, tc.reason)
		}
		if got := sni.Load(); got != tc.sni {
			t.Errorf("%s: SNI %q, want %q", tc.name, got, tc.sni)
		}
		if want := strings.TrimPrefix(tc.url, "grpcs://"); r.OK && authority.Load() != want {
			t.Errorf("%s: :authority %q, want %q", tc.name, authority.Load(), want)
		}
	}
}

// serveDNS serves mux over UDP and TCP on one loopback port until the test ends.
func serveDNS(t *testing.T, mux *dns.ServeMux) string {
	t.Helper()
	pc, ln, port := listenUDPAndTCP(t)
	udp := &dns.Server{PacketConn: pc, Handler: mux}
	tcp := &dns.Server{Listener: ln, Handler: mux}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return port
}

// listenUDPAndTCP listens on one port of 127.0.0.1 for UDP and TCP. A
// free UDP port may be taken for TCP (another test's connection, say):
// then it tries another.
func listenUDPAndTCP(t *testing.T) (net.PacketConn, net.Listener, string) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := portOfAddr(t, pc.LocalAddr().String())
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err == nil {
			return pc, ln, port
		}
		pc.Close()
	}
	t.Fatal("No port of 127.0.0.1 free for both UDP and TCP in 20 tries")
	return nil, nil, ""
}

// serveTestDNS serves on a loopback port: good.example.org A 192.0.2.1,
// SERVFAIL for bad.example.org, and the root's NS.
func serveTestDNS(t *testing.T) (port string) {
	t.Helper()
	mux := dns.NewServeMux()
	mux.HandleFunc("good.example.org.", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		rr, _ := dns.NewRR("good.example.org. 60 IN A 192.0.2.1")
		m.Answer = []dns.RR{rr}
		w.WriteMsg(m)
	})
	mux.HandleFunc("bad.example.org.", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		w.WriteMsg(m)
	})
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Name == "." && q.Qtype == dns.TypeNS {
			rr, _ := dns.NewRR(". 518400 IN NS a.root-servers.net.")
			m.Answer = []dns.RR{rr}
		}
		w.WriteMsg(m)
	})
	return serveDNS(t, mux)
}

func TestDNSProbe(t *testing.T) {
	port := serveTestDNS(t)
	for _, tc := range []struct {
		name   string
		url    string
		opts   []string
		reason string
	}{
		{"NOERROR", "dns://good.example.org:" + port, nil, ""},
		{"over TCP", "dns://good.example.org:" + port, []string{"transport tcp"}, ""},
		{"answer contains", "dns://good.example.org:" + port, []string{"answer_contains 192.0.2.1"}, ""},
		{"answer lacks", "dns://good.example.org:" + port, []string{"answer_contains 192.0.2.2"}, ReasonMismatch},
		{"SERVFAIL", "dns://bad.example.org:" + port, nil, "rcode_servfail"},
		{"SERVFAIL accepted", "dns://bad.example.org:" + port, []string{"rcode NOERROR SERVFAIL"}, ""},
		{"root NS, as forward asks", "dns://127.0.0.1:" + port, []string{"query .", "type NS", "answer_contains a.root-servers.net."}, ""},
		{"root A has no such answer", "dns://:" + port, []string{"query .", "answer_contains a.root-servers.net."}, ReasonMismatch},
		{"query option", "dns://ns.example.org:" + port, []string{"query bad.example.org", "type AAAA", "transport tcp"}, "rcode_servfail"},
	} {
		r := probeURL(t, CheckConfig{URL: tc.url, Options: opts(tc.opts...)})
		if r.OK != (tc.reason == "") || r.Reason != tc.reason {
			t.Errorf("%s: got %+v, want reason %q", tc.name, r, tc.reason)
		}
	}
}

// TestICMPProbe: one echo, and a round of three that must all be
// answered, to the loopback addresses. The result's RTT is the echoes'
// round trip, which the spacing between the three makes shorter than the
// round.
func TestICMPProbe(t *testing.T) {
	if !canUseRawICMP() {
		t.Skip("Needs raw ICMP sockets (root or CAP_NET_RAW); datagram ICMP depends on net.ipv4.ping_group_range")
	}
	for _, addr := range []string{"127.0.0.1", "::1"} {
		for _, tc := range []struct {
			opts    []string
			minTime time.Duration
		}{
			{nil, 0},
			{[]string{"count 3", "max_loss 0%"}, 2 * EchoSpacing},
		} {
			r := probeAt(t, netip.MustParseAddr(addr), CheckConfig{URL: "icmp://www.example.org", Options: opts(tc.opts...)})
			if !r.OK || r.RTT <= 0 || r.RTT > r.Duration || r.Duration < tc.minTime {
				t.Errorf("Echo to %s %v: got %+v, want a pass with 0 < RTT <= Duration, Duration at least %s", addr, tc.opts, r, tc.minTime)
			}
		}
	}
}

// TestHTTPSInternationalizedHost: a check URL whose host has non-ASCII
// letters sends and verifies its punycode form, the name certificates
// carry.
func TestHTTPSInternationalizedHost(t *testing.T) {
	ca := testpki.NewCA(t)
	var sni atomic.Value
	port := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "xn--bcher-kva.example.org")}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni.Store(h.ServerName)
		return nil, nil
	}}, nil)
	r := probeURL(t, CheckConfig{URL: "https://bücher.example.org:" + port + "/health", Options: opts("ca " + ca.File)})
	if !r.OK {
		t.Fatalf("Probe of an IDNA host: %v", r)
	}
	if got := sni.Load(); got != "xn--bcher-kva.example.org" {
		t.Errorf("SNI %v, want the punycode name", got)
	}
	if want := "https://xn--bcher-kva.example.org:" + port + "/health"; r.Check != want {
		t.Errorf("Check named %q, want %q", r.Check, want)
	}
	if _, err := NewCheck(CheckConfig{URL: "https://ü-.example.org/", Timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "punycode") {
		t.Errorf("An invalid IDNA host: error %v, want one that says to write its punycode form", err)
	}
}

// TestHTTPExchange covers what the direct exchange (exchange.go) does as
// net/http's Transport does: 1xx responses before the final one, chunked
// bodies, the cap on header bytes, and headers net/http would refuse.
func TestHTTPExchange(t *testing.T) {
	reply := func(text string) string {
		_, port := serveTCP(t, func(c net.Conn) {
			bufio.NewReader(c).ReadString('\n') // the request line is enough
			c.Write([]byte(text))
		})
		return "http://www.example.org:" + port + "/"
	}
	huge := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("x", MaxBodyBytes) + "\r\n\r\n"
	for _, tc := range []struct {
		name   string
		url    string
		opts   []string
		reason string
		detail string
	}{
		{"100 Continue, then 200", reply("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), []string{"body_contains ok"}, "", ""},
		{"several 1xx", reply(strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 6) + "HTTP/1.1 204 No Content\r\n\r\n"), nil, "", ""},
		{"1xx headers count toward the cap", reply("HTTP/1.1 103 Early Hints\r\nX-Big: " + strings.Repeat("x", MaxBodyBytes/2) + "\r\n\r\n" + huge[:MaxBodyBytes/2+100]), nil, ReasonError, "headers exceeded"},
		{"chunked body", reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nall\r\n4\r\n ok!\r\n0\r\n\r\n"), []string{"body_regex ^all.ok!$"}, "", ""},
		{"body until close", reply("HTTP/1.1 200 OK\r\n\r\nstatus up"), []string{"body_regex up$"}, "", ""},
		{"headers past the cap", reply(huge), nil, ReasonError, "headers exceeded"},
		{"header name net/http refuses", reply("HTTP/1.1 200 OK\r\n\r\n"), []string{"header Bad\x01Name x"}, ReasonError, "invalid header field name"},
	} {
		r := probeURL(t, CheckConfig{URL: tc.url, Options: opts(tc.opts...)})
		if r.OK != (tc.reason == "") || r.Reason != tc.reason || !strings.Contains(r.Detail, tc.detail) {
			t.Errorf("%s: got %+v, want reason %q and a detail with %q", tc.name, r, tc.reason, tc.detail)
		}
	}
}

// TestDNSProbeLongReply: a TCP reply longer than the pooled buffer, and a
// UDP reply with another ID before the right one.
func TestDNSProbeLongReply(t *testing.T) {
	mux := dns.NewServeMux()
	mux.HandleFunc("many.example.org.", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for i := 0; i < 100; i++ {
			rr, _ := dns.NewRR(fmt.Sprintf("many.example.org. 60 IN A 192.0.2.%d", i+1))
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})
	mux.HandleFunc("stale.example.org.", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Id = r.Id + 1 // a reply to an earlier query
		w.WriteMsg(m)
		m = new(dns.Msg)
		m.SetReply(r)
		rr, _ := dns.NewRR("stale.example.org. 60 IN A 192.0.2.7")
		m.Answer = []dns.RR{rr}
		w.WriteMsg(m)
	})
	port := serveDNS(t, mux)
	if r := probeURL(t, CheckConfig{URL: "dns://many.example.org:" + port, Options: opts("transport tcp", "answer_contains 192.0.2.100")}); !r.OK {
		t.Errorf("Long reply over TCP: got %+v", r)
	}
	if r := probeURL(t, CheckConfig{URL: "dns://stale.example.org:" + port, Options: opts("answer_contains 192.0.2.7")}); !r.OK {
		t.Errorf("UDP reply after a stale one: got %+v", r)
	}
	if r := probeURL(t, CheckConfig{URL: "dns://stale.example.org:" + port, Options: opts("transport tcp")}); r.OK || r.Reason != ReasonError {
		t.Errorf("TCP reply with another ID: got %+v, want reason %q", r, ReasonError)
	}
}
