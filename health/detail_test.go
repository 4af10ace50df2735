package health

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/failover-dns/failover/internal/testpki"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Secrets a check or a peer may carry; no Result field may show them.
const (
	queryToken  = "q-s3cret"
	headerToken = "h-s3cret"
	bodyToken   = "b-s3cret"
)

// checkDetail asserts a failed result's reason, that its detail names the
// cause, that it carries the check and the probed address, and that it
// shows no secret.
func checkDetail(t *testing.T, name string, r Result, reason, cause, check string, addr netip.AddrPort) {
	t.Helper()
	if r.OK || r.Reason != reason {
		t.Errorf("%s: got %+v, want reason %q", name, r, reason)
	}
	if !strings.Contains(r.Detail, cause) {
		t.Errorf("%s: detail %q does not name the cause %q", name, r.Detail, cause)
	}
	if r.Check != check || r.Addr != addr {
		t.Errorf("%s: check %q at %s, want %q at %s", name, r.Check, r.Addr, check, addr)
	}
	if len(r.Detail) > MaxDetail || !utf8.ValidString(r.Detail) {
		t.Errorf("%s: detail of %d bytes (valid UTF-8: %v), want at most %d", name, len(r.Detail), utf8.ValidString(r.Detail), MaxDetail)
	}
	for _, s := range []string{queryToken, headerToken, bodyToken} {
		if all := fmt.Sprintf("%s|%s|%s", r.Check, r.Detail, r); strings.Contains(all, s) {
			t.Errorf("%s: the result shows the secret %q: %s", name, s, all)
		}
	}
}

func addrPort(t *testing.T, port string) netip.AddrPort {
	t.Helper()
	return netip.MustParseAddrPort("127.0.0.1:" + port)
}

func TestDetailTCP(t *testing.T) {
	ln, port := serveTCP(t, func(c net.Conn) { c.Write([]byte("220 ready " + bodyToken + "\r\n")) })
	url := "tcp://svc.example.org:" + port
	r := probeURL(t, CheckConfig{URL: url, Options: opts("expect +PONG")})
	checkDetail(t, "Wrong banner", r, ReasonMismatch, "expected text not found in the 20 bytes received", url, addrPort(t, port))

	_, silent := serveTCP(t, func(c net.Conn) { c.Read(make([]byte, 1)) })
	url2 := "tcp://svc.example.org:" + silent
	r = probeURL(t, CheckConfig{URL: url2, Options: opts("expect +PONG"), Timeout: 100 * time.Millisecond})
	checkDetail(t, "Silent peer", r, ReasonTimeout, "timed out after 100ms: read tcp: i/o timeout", url2, addrPort(t, silent))

	ln.Close()
	r = probeURL(t, CheckConfig{URL: url})
	checkDetail(t, "Closed port", r, ReasonRefused, "connect: connection refused", url, addrPort(t, port))
	if strings.Contains(r.Detail, "127.0.0.1") {
		t.Errorf("Closed port: detail %q repeats the address (Addr has it)", r.Detail)
	}
	if want := url + " at 127.0.0.1:" + port + ": refused (dial tcp: connect: connection refused)"; r.String() != want {
		t.Errorf("Closed port: String() = %q, want %q", r.String(), want)
	}
}

func TestDetailTLSNameMismatch(t *testing.T) {
	ca := testpki.NewCA(t)
	port := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "www.example.org")}}, nil)
	url := "https://api.example.org:" + port + "/health"
	r := probeURL(t, CheckConfig{URL: url + "?token=" + queryToken, Options: opts("ca " + ca.File)})
	checkDetail(t, "Name mismatch", r, ReasonTLS, "certificate not valid for api.example.org: it names www.example.org", url, addrPort(t, port))

	// A certificate with many long names: the detail stays within the cap
	// and still says which name was asked for.
	var names []string
	for i := range 40 {
		names = append(names, fmt.Sprintf("host-%02d.a-rather-long-subdomain-of.example.org", i))
	}
	many := ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), x509.ExtKeyUsageServerAuth, names...)
	manyPort := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{many}}, nil)
	url = "tls://api.example.org:" + manyPort
	r = probeURL(t, CheckConfig{URL: url, Options: opts("ca " + ca.File)})
	checkDetail(t, "Name mismatch, many names", r, ReasonTLS, "certificate not valid for api.example.org: it names host-00", url, addrPort(t, manyPort))
	if !strings.HasSuffix(r.Detail, "…") {
		t.Errorf("Name mismatch, many names: detail %q is not marked as cut", r.Detail)
	}

	url = "tls://www.example.org:" + port
	r = probeURL(t, CheckConfig{URL: url})
	checkDetail(t, "Unknown CA", r, ReasonTLS, "certificate signed by an unknown authority", url, addrPort(t, port))
}

func TestDetailHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("X-Token")) // a server may echo a header back
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"down","token":"` + bodyToken + `"}`))
	})
	mux.HandleFunc("/body", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"status":"down","token":"` + bodyToken + `"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port := portOfAddr(t, srv.Listener.Addr().String())
	base := "http://www.example.org:" + port
	header := "header X-Token " + headerToken

	r := probeURL(t, CheckConfig{URL: base + "/health?token=" + queryToken, Options: opts(header)})
	checkDetail(t, "Status", r, "status_503", "status 503, want 200-299", base+"/health", addrPort(t, port))
	r = probeURL(t, CheckConfig{URL: base + "/health", Options: opts(header, "status 200 204 300-399")})
	checkDetail(t, "Status list", r, "status_503", "status 503, want 200 or 204 or 300-399", base+"/health", addrPort(t, port))
	r = probeURL(t, CheckConfig{URL: base + "/body?token=" + queryToken, Options: opts(header, "body_contains up")})
	checkDetail(t, "Body lacks", r, ReasonMismatch, "body lacks the expected text (36 bytes read)", base+"/body", addrPort(t, port))
	r = probeURL(t, CheckConfig{URL: base + "/body", Options: opts(header, `body_regex "status":"up"`)})
	checkDetail(t, "Body regex", r, ReasonMismatch, "body does not match body_regex", base+"/body", addrPort(t, port))

	// A peer whose reply is not HTTP: Go's errors quote what it sent.
	for _, tc := range []struct{ name, reply, reason, cause string }{
		{"Not HTTP", bodyToken + "\r\n\r\n", ReasonError, "malformed HTTP response"},
		{"Malformed header", "HTTP/1.1 200 OK\r\nX-Secret " + headerToken + "\r\n\r\n", ReasonError, "malformed MIME header: missing colon"},
		{"No reply", "", ReasonReset, "connection closed by the peer (EOF)"},
	} {
		_, raw := serveTCP(t, func(c net.Conn) {
			c.Read(make([]byte, 4096))
			c.Write([]byte(tc.reply))
		})
		url := "http://www.example.org:" + raw + "/"
		r := probeURL(t, CheckConfig{URL: url})
		checkDetail(t, tc.name, r, tc.reason, tc.cause, url, addrPort(t, raw))
	}
}

func TestDetailDNS(t *testing.T) {
	port := serveTestDNS(t)
	for _, tc := range []struct {
		name, url      string
		opts           []string
		reason, detail string
	}{
		{"SERVFAIL", "dns://bad.example.org:" + port, nil, "rcode_servfail", "rcode SERVFAIL, want NOERROR"},
		{"SERVFAIL, list", "dns://bad.example.org:" + port, []string{"rcode NOERROR NXDOMAIN"}, "rcode_servfail", "rcode SERVFAIL, want NOERROR or NXDOMAIN"},
		{"answer lacks", "dns://good.example.org:" + port, []string{"answer_contains 192.0.2.2"}, ReasonMismatch, "answer lacks the expected text (1 records)"},
	} {
		r := probeURL(t, CheckConfig{URL: tc.url, Options: opts(tc.opts...)})
		checkDetail(t, tc.name, r, tc.reason, tc.detail, tc.url, addrPort(t, port))
	}
}

func TestDetailGRPC(t *testing.T) {
	srv, hs, port := serveGRPCHealth(t)
	url := "grpc://api.example.org:" + port
	hs.SetServingStatus("example.v1.Orders", healthpb.HealthCheckResponse_NOT_SERVING)

	r := probeURL(t, CheckConfig{URL: url, Options: opts("service example.v1.Orders")})
	checkDetail(t, "NOT_SERVING", r, ReasonNotServing, "health status NOT_SERVING, want SERVING", url, addrPort(t, port))
	r = probeURL(t, CheckConfig{URL: url, Options: opts("service example.v1.Unknown")})
	checkDetail(t, "Unknown service", r, ReasonNotServing, "does not know service 'example.v1.Unknown'", url, addrPort(t, port))
	srv.Stop()
	r = probeURL(t, CheckConfig{URL: url})
	checkDetail(t, "Stopped", r, ReasonRefused, "connection refused", url, addrPort(t, port))
}

func TestDetailSlow(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(80 * time.Millisecond) }))
	defer srv.Close()
	port := portOfAddr(t, srv.Listener.Addr().String())
	url := "http://www.example.org:" + port + "/slow"
	r := probeURL(t, CheckConfig{URL: url, Options: opts("max_latency 20ms")})
	checkDetail(t, "Slow", r, ReasonSlow, "slower than max_latency 20ms: ", url, addrPort(t, port))
}

func TestDetailSuccessNamesCheck(t *testing.T) {
	_, port := serveTCP(t, closeAtOnce)
	url := "tcp://svc.example.org:" + port
	r := probeURL(t, CheckConfig{URL: url})
	if !r.OK || r.Check != url || r.Addr != addrPort(t, port) || r.Detail != "" {
		t.Errorf("Success: got %+v, want OK with check %q at 127.0.0.1:%s and no detail", r, url, port)
	}
}

func TestCapDetail(t *testing.T) {
	long := strings.Repeat("é", MaxDetail) // two bytes each: a cut at an odd offset splits one
	got := capDetail(long)
	if len(got) > MaxDetail || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("capDetail of %d bytes: got %d bytes, valid UTF-8 %v, %q", len(long), len(got), utf8.ValidString(got), got[len(got)-8:])
	}
	if got := capDetail("line one\nline\x00two \xff"); got != "line one line two ?" {
		t.Errorf("capDetail with control characters and invalid UTF-8: got %q", got)
	}
	if got := capDetail("short"); got != "short" {
		t.Errorf("capDetail(short) = %q", got)
	}
}

func TestMaskQuoted(t *testing.T) {
	for in, want := range map[string]string{
		`malformed HTTP response "secret \"quoted\" text"`: `malformed HTTP response "…"`,
		`a "b" c "d`:    `a "…" c "…"`,
		`no quotes`:     `no quotes`,
		`"x" and "y" z`: `"…" and "…" z`,
	} {
		if got := maskQuoted(in); got != want {
			t.Errorf("maskQuoted(%q) = %q, want %q", in, got, want)
		}
	}
}
