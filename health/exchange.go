package health

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// An http or https check that follows no redirects makes one request on a
// new connection and reads one response: what net/http's Transport does for
// it (no proxy, keep-alive and compression off, a timeout on every step),
// written out here because the Transport costs some 70 allocations a probe
// for its connection pool, its reader and writer goroutines and the request
// it clones. The request's bytes are made once, by net/http itself
// (Request.Write), and the response is read by net/http's own parser
// (http.ReadResponse), with the Transport's limit on header bytes and its
// handling of 1xx responses. Checks that follow redirects keep using
// http.Client, whose CheckRedirect keeps them on the target.

// buildHead writes the check's request as net/http would send it on a new
// connection. It returns nil when net/http would refuse the request (an
// invalid header or Host): the client path then fails each probe with the
// error it always did.
func (p *httpProber) buildHead() ([]byte, *http.Request) {
	req, err := http.NewRequest(p.method, p.scheme+"://192.0.2.1"+p.requestURI, nil)
	if err != nil {
		return nil, nil
	}
	req.Host = p.host
	req.Header = p.header
	req.Close = true // "Connection: close", as DisableKeepAlives sends
	for name, values := range req.Header {
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, nil
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, nil
			}
		}
	}
	var head bytes.Buffer
	if err := req.Write(&head); err != nil {
		return nil, nil
	}
	req.Header = nil // ReadResponse needs only the method; the headers may hold a secret
	return head.Bytes(), req
}

// exchange probes dst with the prepared request.
func (p *httpProber) exchange(ctx context.Context, dst netip.AddrPort) Result {
	start := time.Now()
	deadline := start.Add(p.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	raw, err := dialProbe(ctx, dst, p.timeout)
	if err != nil {
		return failed(start, err)
	}
	defer raw.Close()
	// One deadline for the handshake, the request and the response, as
	// http.Client's Timeout; cancelling ctx ends the exchange at once.
	raw.SetDeadline(deadline)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { raw.SetDeadline(aLongTimeAgo) })
		defer stop()
	}
	fail := func(err error) Result {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return failed(start, ctxErr)
		}
		return failed(start, err)
	}
	conn := raw
	if p.scheme == "https" {
		tc := tls.Client(raw, p.tls)
		if err := tc.Handshake(); err != nil { // bounded by the deadline
			return fail(err)
		}
		conn = tc
	}
	if _, err := conn.Write(p.head); err != nil {
		return fail(err)
	}
	rd := responseReaders.Get().(*responseReader)
	defer rd.release()
	rd.limit = limitReader{r: conn, n: MaxBodyBytes} // http.Transport.MaxResponseHeaderBytes
	rd.br.Reset(&rd.limit)
	var resp *http.Response
	for {
		if resp, err = http.ReadResponse(&rd.br, p.request); err != nil {
			switch {
			case rd.limit.n <= 0:
				err = errHeadersTooLong
			case errors.Is(err, io.ErrUnexpectedEOF) && rd.limit.read == 0:
				err = io.EOF // nothing at all, as the Transport reports it
			}
			return fail(err)
		}
		// 1xx responses other than 101 come before the real one; the cap
		// on header bytes counts them all.
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	rd.limit.n = math.MaxInt64 // the body is capped as it is read
	r := p.judge(start, resp)
	if !r.OK && ctx.Err() != nil && r.Reason == ReasonTimeout {
		return fail(nil)
	}
	if r.OK {
		// Time to first byte: connect, handshake, request and the
		// server's wait, not the body (see httpProber.Probe).
		r.RTT = rd.limit.first.Sub(start)
	}
	return r
}

var (
	errHeadersTooLong = fmt.Errorf("net/http: server response headers exceeded %d bytes; aborted", MaxBodyBytes)
	responseReaders   = sync.Pool{New: func() any { return &responseReader{br: *bufio.NewReaderSize(nil, 4096)} }}
)

// responseReader reads a response: a buffer over a limit on its headers.
type responseReader struct {
	limit limitReader
	br    bufio.Reader
}

func (rd *responseReader) release() {
	rd.limit = limitReader{}
	rd.br.Reset(nil)
	responseReaders.Put(rd)
}

// limitReader fails once n bytes were read, and counts what it read and
// when its first byte came.
type limitReader struct {
	r     io.Reader
	n     int64
	read  int64
	first time.Time
}

func (l *limitReader) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeadersTooLong
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	n, err := l.r.Read(b)
	if n > 0 && l.read == 0 {
		l.first = time.Now()
	}
	l.n -= int64(n)
	l.read += int64(n)
	return n, err
}
