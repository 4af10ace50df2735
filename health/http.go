package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxBodyBytes caps how much of a response body a probe reads; body_contains
// and body_regex look only at this much. The rest is dropped with the connection.
const MaxBodyBytes = 64 << 10

const maxRedirects = 10

// httpProber sends a request to the check URL at each target's address. The
// URL's host becomes the Host header and the TLS server name, so one URL
// checks every target of a pool (as PowerDNS's ifurlup does).
type httpProber struct {
	scheme     string
	requestURI string
	host       string // Host header: the URL's host[:port] as written
	method     string
	header     http.Header
	status     []statusRange
	contains   []byte
	regex      *regexp.Regexp
	client     *http.Client
	transport  *http.Transport

	// The direct exchange (exchange.go), used unless head is nil.
	head    []byte        // the request's bytes, as the transport would write them
	request *http.Request // read only: tells http.ReadResponse the method
	tls     *tls.Config   // for https
	timeout time.Duration
}

type statusRange struct{ lo, hi int }

func newHTTPProber(u *url.URL, o *options, cfg CheckConfig) (*httpProber, string, error) {
	p := &httpProber{
		scheme:     u.Scheme,
		requestURI: u.RequestURI(),
		host:       u.Host,
		method:     http.MethodGet,
		header:     http.Header{"User-Agent": {"coredns-failover"}},
		status:     []statusRange{{200, 299}},
	}
	if m, ok, err := o.str("method", "method HEAD"); err != nil {
		return nil, "", err
	} else if ok {
		p.method = strings.ToUpper(m)
	}
	for _, opt := range o.all("header") {
		if len(opt.Args) != 2 {
			return nil, "", o.errf(opt, "header takes a name and a value: write e.g. 'header X-Health-Token \"secret value\"'")
		}
		if strings.EqualFold(opt.Args[0], "Host") {
			p.host = opt.Args[1] // also the TLS server name below unless server_name says otherwise
			continue
		}
		p.header.Add(opt.Args[0], opt.Args[1])
	}
	if opt, ok, err := o.one("status"); err != nil {
		return nil, "", err
	} else if ok {
		if p.status, err = parseStatus(opt.Args); err != nil {
			return nil, "", o.errf(opt, "%v: write e.g. 'status 200 204 300-399'", err)
		}
	}
	contains, _, err := o.str("body_contains", `body_contains "ok"`)
	if err != nil {
		return nil, "", err
	}
	p.contains = []byte(contains)
	if opt, ok, err := o.one("body_regex"); err != nil {
		return nil, "", err
	} else if ok {
		if len(opt.Args) != 1 {
			return nil, "", o.errf(opt, "body_regex takes one regular expression: write e.g. 'body_regex \"status\\\":\\s*\\\"up\"'")
		}
		if p.regex, err = regexp.Compile(opt.Args[0]); err != nil {
			return nil, "", o.errf(opt, "body_regex '%s' is not a valid regular expression: %v", opt.Args[0], err)
		}
	}
	if p.method == http.MethodHead && (len(p.contains) > 0 || p.regex != nil) {
		body := "body_contains"
		if len(p.contains) == 0 {
			body = "body_regex"
		}
		return nil, "", o.errf(o.all("method")[0], "method HEAD gets no body, so %s (line %d) could never match: drop 'method HEAD' (GET is the default) or %s",
			body, o.all(body)[0].Line, body)
	}
	redirects := 0
	if opt, ok, err := o.one("follow_redirects"); err != nil {
		return nil, "", err
	} else if ok {
		redirects = 5
		if len(opt.Args) == 1 {
			n, err := strconv.Atoi(opt.Args[0])
			if err != nil || n < 1 || n > maxRedirects {
				return nil, "", o.errf(opt, "follow_redirects '%s' is not a whole number from 1 to %d", opt.Args[0], maxRedirects)
			}
			redirects = n
		} else if len(opt.Args) > 1 {
			return nil, "", o.errf(opt, "follow_redirects takes at most one number: write 'follow_redirects' or 'follow_redirects 3'")
		}
	}

	digest, err := p.buildClient(o, cfg, redirects)
	if err != nil {
		return nil, "", err
	}
	return p, digest, nil
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

func parseStatus(args []string) ([]statusRange, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("status needs at least one code or range")
	}
	var out []statusRange
	for _, a := range args {
		lo, hi, isRange := strings.Cut(a, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
			return nil, fmt.Errorf("status '%s' is not a code or range between 100 and 599", a)
		}
		out = append(out, statusRange{l, h})
	}
	return out, nil
}

// Probe's RTT is the time to the response's first byte (curl's
// time_starttransfer), connect, TLS handshake and the server's wait
// included, reading the body not: a slow or large body is the service's
// doing, not the network's. An interim 1xx response's first byte counts, as
// it does for curl and httptrace. With follow_redirects it is the time from
// the probe's start to the final response's first byte: the redirects' own
// round trips are part of reaching the target's answer.
func (p *httpProber) Probe(ctx context.Context, dst netip.AddrPort) Result {
	if p.head != nil {
		return p.exchange(ctx, dst)
	}
	start := time.Now()
	// The first byte of each response (one per redirect followed): the
	// last one stored is the final response's. The transport's reading
	// goroutine stores it. (3 allocations in all: this, its function and
	// the context; the client's path costs some 110.)
	fb := &firstByte{}
	fb.trace.GotFirstResponseByte = func() { fb.after.Store(int64(time.Since(start))) }
	ctx = httptrace.WithClientTrace(ctx, &fb.trace)
	req, err := http.NewRequestWithContext(ctx, p.method, p.scheme+"://"+dst.String()+p.requestURI, nil)
	if err != nil {
		return failure(start, ReasonError, "cannot build the request") // not err: it quotes the URL and its query
	}
	req.Host = p.host
	req.Header = p.header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		return failed(start, err)
	}
	defer resp.Body.Close()
	r := p.judge(start, resp)
	if r.OK {
		r.RTT = time.Duration(fb.after.Load())
	}
	return r
}

// firstByte records when, after the probe's start, a response's first byte
// came, for http.Client's probes.
type firstByte struct {
	trace httptrace.ClientTrace
	after atomic.Int64 // a time.Duration
}

// judge decides on a response: its status, then its body if asked.
func (p *httpProber) judge(start time.Time, resp *http.Response) Result {
	if !p.statusOK(resp.StatusCode) {
		return failure(start, "status_"+strconv.Itoa(resp.StatusCode),
			fmt.Sprintf("status %d, want %s", resp.StatusCode, statusList(p.status)))
	}
	if len(p.contains) == 0 && p.regex == nil {
		return success(start)
	}
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	body, err := readBody(resp.Body, (*bp)[:0])
	*bp = body[:0]
	if err != nil {
		return failed(start, err)
	}
	contains := len(p.contains) == 0 || bytes.Contains(body, p.contains)
	if contains && (p.regex == nil || p.regex.Match(body)) {
		return success(start)
	}
	read := fmt.Sprintf("%d bytes read", len(body))
	if len(body) == MaxBodyBytes {
		read = fmt.Sprintf("first %d bytes read, the limit", len(body))
	}
	if !contains {
		return failure(start, ReasonMismatch, "body lacks the expected text ("+read+")")
	}
	return failure(start, ReasonMismatch, "body does not match body_regex ("+read+")")
}

// bodyBufs holds the buffers bodies are read into; they grow up to
// MaxBodyBytes.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// readBody appends at most MaxBodyBytes of r to buf.
func readBody(r io.Reader, buf []byte) ([]byte, error) {
	for len(buf) < MaxBodyBytes {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), MaxBodyBytes-len(buf)))...)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), MaxBodyBytes)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func (p *httpProber) statusOK(code int) bool {
	for _, r := range p.status {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

func (p *httpProber) Close() { p.transport.CloseIdleConnections() }

// buildClient makes the transport and client of the probes that follow
// redirects, and the request bytes of those that do not (see exchange);
// digest identifies the TLS configuration's files.
func (p *httpProber) buildClient(o *options, cfg CheckConfig, redirects int) (digest string, err error) {
	transport := &http.Transport{
		Proxy:                  nil, // a health check must reach the target itself, never an environment proxy
		DialContext:            (&resettingDialer{net.Dialer{Timeout: cfg.Timeout}}).DialContext,
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: MaxBodyBytes,
		DisableCompression:     true,
		// A fresh connection per probe tests what a new client would see.
		DisableKeepAlives: true,
	}
	if p.scheme == "https" {
		tlsCfg, d, err := tlsConfig(o, hostOnly(p.host), cfg.Root)
		if err != nil {
			return "", err
		}
		transport.TLSClientConfig, digest = tlsCfg, d
	}
	p.transport = transport
	p.tls, p.timeout = transport.TLSClientConfig, cfg.Timeout
	if redirects == 0 {
		p.head, p.request = p.buildHead()
	}
	p.client = &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > redirects {
				return http.ErrUseLastResponse // not followed: the 3xx status decides
			}
			// Follow only within the target: a relative Location (same address)
			// or one naming the check's host, which goes to the target's address
			// with that Host. Anything else would probe another server.
			target := via[0].URL.Host
			switch {
			case req.URL.Host == target:
			case strings.EqualFold(req.URL.Host, p.host) && req.URL.Scheme == via[0].URL.Scheme:
				req.Host, req.URL.Host = p.host, target
			default:
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return digest, nil
}
