package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// MaxBodyBytes caps how much of a response body a probe reads. The rest is
// discarded unread when the connection closes.
const MaxBodyBytes = 64 << 10

// httpProber sends GET to the check URL at each target's address. The URL's
// host becomes the Host header and the TLS server name, so one URL checks
// every target of a pool (as PowerDNS's ifurlup does).
type httpProber struct {
	scheme     string
	port       string
	requestURI string
	host       string // Host header: the URL's host[:port] as written
	client     *http.Client
	transport  *http.Transport
}

func newHTTPProber(u *url.URL, port uint16, timeout time.Duration, roots *x509.CertPool) *httpProber {
	transport := &http.Transport{
		Proxy:       nil, // a health check must reach the target itself, never an environment proxy
		DialContext: (&net.Dialer{Timeout: timeout}).DialContext,
		TLSClientConfig: &tls.Config{
			ServerName: u.Hostname(),
			RootCAs:    roots, // nil: the system roots
			MinVersion: tls.VersionTLS12,
		},
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: MaxBodyBytes,
		DisableCompression:     true,
		// A fresh connection per probe tests what a new client would see.
		DisableKeepAlives: true,
	}
	return &httpProber{
		scheme:     u.Scheme,
		port:       strconv.Itoa(int(port)),
		requestURI: u.RequestURI(),
		host:       u.Host,
		transport:  transport,
		client: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			// Redirects are not followed: a 3xx is a failed check.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func (p *httpProber) Probe(ctx context.Context, addr netip.Addr) Result {
	start := time.Now()
	target := p.scheme + "://" + net.JoinHostPort(addr.String(), p.port) + p.requestURI
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return failure(start, ReasonError)
	}
	req.Host = p.host
	req.Header.Set("User-Agent", "coredns-failover")
	resp, err := p.client.Do(req)
	if err != nil {
		return failure(start, reasonFor(err))
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodyBytes))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return failure(start, "status "+strconv.Itoa(resp.StatusCode))
	}
	if err != nil {
		return failure(start, reasonFor(err))
	}
	return success(start)
}

func (p *httpProber) Close() { p.transport.CloseIdleConnections() }
