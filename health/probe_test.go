package health

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// opts builds option lines from "name arg..." strings.
func opts(lines ...string) []Option {
	var out []Option
	for i, l := range lines {
		f := strings.Fields(l)
		out = append(out, Option{Name: f[0], Args: f[1:], Line: i + 1})
	}
	return out
}

func probeAt(t *testing.T, addr netip.Addr, cfg CheckConfig) Result {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	c, err := NewCheck(cfg)
	if err != nil {
		t.Fatalf("NewCheck(%q): %v", cfg.URL, err)
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	return c.Probe(ctx, addr, 0)
}

func probeURL(t *testing.T, cfg CheckConfig) Result {
	t.Helper()
	return probeAt(t, loopback, cfg)
}

func portOfAddr(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// acceptEach hands every connection ln accepts to handle, in its own
// goroutine, and closes it after; it returns when ln is closed.
func acceptEach(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

// serveTCP accepts connections on 127.0.0.1 and hands each to handle, in
// its own goroutine, until the test ends or the listener is closed.
func serveTCP(t *testing.T, handle func(net.Conn)) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go acceptEach(ln, handle)
	return ln, portOfAddr(t, ln.Addr().String())
}

func closeAtOnce(net.Conn) {}

func TestTCPProbe(t *testing.T) {
	ln, port := serveTCP(t, closeAtOnce)
	if r := probeURL(t, CheckConfig{URL: "tcp://svc.example.org:" + port}); !r.OK {
		t.Errorf("Open port: got failure %q, want success", r.Reason)
	}
	ln.Close()
	if r := probeURL(t, CheckConfig{URL: "tcp://svc.example.org:" + port}); r.OK || r.Reason != ReasonRefused {
		t.Errorf("Closed port: got %+v, want failure %q", r, ReasonRefused)
	}
}

func TestHTTPProbe(t *testing.T) {
	var host atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		host.Store(r.Host)
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/health", http.StatusFound) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		chunk := []byte(strings.Repeat("x", 1<<16))
		for i := 0; i < 1024; i++ { // 64 MiB: far past the cap
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	hang := make(chan struct{})
	mux.HandleFunc("/hang", func(http.ResponseWriter, *http.Request) { <-hang })
	srv := httptest.NewServer(mux)
	defer func() {
		close(hang) // before Close, which waits for the handler
		srv.Close()
	}()
	port := portOfAddr(t, srv.Listener.Addr().String())
	base := "http://www.example.org:" + port

	if r := probeURL(t, CheckConfig{URL: base + "/health"}); !r.OK {
		t.Fatalf("Healthy endpoint: got failure %q", r.Reason)
	}
	if got, want := host.Load(), "www.example.org:"+port; got != want {
		t.Errorf("Host header: got %v, want %v", got, want)
	}
	for _, tc := range []struct{ path, reason string }{
		{"/down", "status_503"},
		{"/moved", "status_302"}, // redirects are not followed
	} {
		if r := probeURL(t, CheckConfig{URL: base + tc.path}); r.OK || r.Reason != tc.reason {
			t.Errorf("%s: got %+v, want failure %q", tc.path, r, tc.reason)
		}
	}
	start := time.Now()
	if r := probeURL(t, CheckConfig{URL: base + "/big"}); !r.OK {
		t.Errorf("Big body: got failure %q, want success (the body is read up to a cap)", r.Reason)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("Big body took %s: the probe should stop reading at %d bytes", d, MaxBodyBytes)
	}
	if r := probeURL(t, CheckConfig{URL: base + "/hang", Timeout: 200 * time.Millisecond}); r.OK || r.Reason != ReasonTimeout {
		t.Errorf("Hanging endpoint: got %+v, want failure %q", r, ReasonTimeout)
	}
}

// writeCA saves the test server's certificate, which signs itself, as a CA file.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ca.pem")
	block := &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestHTTPSProbeVerifiesCertificate(t *testing.T) {
	var sni atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		sni.Store(hello.ServerName)
		return nil, nil
	}}
	srv.StartTLS()
	defer srv.Close()
	port := portOfAddr(t, srv.Listener.Addr().String())
	ca := writeCA(t, srv)

	// httptest's certificate is valid for example.com, 127.0.0.1 and ::1.
	if r := probeURL(t, CheckConfig{URL: "https://example.com:" + port + "/"}); r.OK || r.Reason != ReasonTLS {
		t.Errorf("Untrusted certificate: got %+v, want failure %q", r, ReasonTLS)
	}
	if r := probeURL(t, CheckConfig{URL: "https://example.com:" + port + "/", Options: opts("ca " + ca)}); !r.OK {
		t.Errorf("Trusted CA and matching host: got failure %q, want success", r.Reason)
	}
	if got := sni.Load(); got != "example.com" {
		t.Errorf("SNI: got %v, want example.com", got)
	}
	if r := probeURL(t, CheckConfig{URL: "https://www.example.net:" + port + "/", Options: opts("ca " + ca)}); r.OK || r.Reason != ReasonTLS {
		t.Errorf("Trusted CA but a host the certificate does not name: got %+v, want failure %q", r, ReasonTLS)
	}
}

func TestCheckErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "notpem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for _, tc := range []struct {
		check CheckConfig
		want  string
	}{
		{CheckConfig{URL: "ftp://www.example.org/"}, "scheme 'ftp' is not supported"},
		{CheckConfig{URL: "www.example.org/health"}, "is not a URL"},
		{CheckConfig{URL: "tcp://www.example.org"}, "has no port"},
		{CheckConfig{URL: "tcp://www.example.org:99999"}, "not a number from 1 to 65535"},
		{CheckConfig{URL: "tcp://www.example.org:80/path"}, "takes no path"},
		{CheckConfig{URL: "http:///health"}, "has no host"},
		{CheckConfig{URL: "https://user:s3cret@www.example.org/"}, "check 'https://www.example.org/' has credentials"},
		{CheckConfig{URL: "https://user:s3cret@www.example.org:abc/?token=s3cret"}, "check 'https://www.example.org:abc/' is not a URL"},
		{CheckConfig{URL: "http://www.example.org:0/health?token=s3cret"}, "port '0' is not a number"},
		{CheckConfig{URL: "http:///health?token=s3cret"}, "has no host"},
		{CheckConfig{URL: "tcp://db.example.org:5432/?password=s3cret"}, "takes no path or query"},
		{CheckConfig{URL: "icmp://gw.example.org:1?token=s3cret"}, "takes no port or path"},
		{CheckConfig{URL: "dns://?token=s3cret"}, "has no name to query"},
		{CheckConfig{URL: "http://www.example.org/", Options: opts("ca ca.pem")}, "option 'ca' does not apply to http checks"},
		{CheckConfig{URL: "https://www.example.org/", Options: opts("ca " + filepath.Join(t.TempDir(), "missing.pem"))}, "cannot read ca file"},
		{CheckConfig{URL: "https://www.example.org/", Options: opts("ca " + notPEM)}, "holds no PEM certificate"},
	} {
		tc.check.Timeout = time.Second
		_, err := NewCheck(tc.check)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got error %v, want one containing %q", tc.check, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%+v: the error shows the password: %v", tc.check, err)
		}
	}
}
