package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxDetail caps Result.Detail, in bytes: a detail goes into logs and status
// pages once per failing probe, so an error that lists a certificate's
// hundred names must not make every line a screenful.
const MaxDetail = 256

// detailFor describes a probe's error for an operator. Errors of Go's
// net, tls and x509 packages are rewritten without the addresses they embed
// (Result.Addr has the address), so that the cause survives the cap; any
// other error text has its quoted parts masked, because net/http and
// net/textproto quote what the peer sent (a malformed status line, a header
// line with its value) and such bytes may hold secrets.
func detailFor(err error) string {
	var (
		noMatch   errNoMatch
		hostErr   x509.HostnameError
		verifyErr *tls.CertificateVerificationError
		authErr   x509.UnknownAuthorityError
		opErr     *net.OpError
		urlErr    *url.Error
	)
	switch {
	case errors.As(err, &noMatch):
		return noMatch.Error()
	case errors.As(err, &hostErr):
		return hostnameDetail(hostErr)
	case errors.As(err, &verifyErr):
		return "certificate not verified: " + detailFor(verifyErr.Err)
	case errors.As(err, &authErr):
		return "certificate signed by an unknown authority"
	case errors.As(err, &opErr) && opErr.Err != nil:
		// "dial tcp 192.0.2.1:80: connect: connection refused" without the
		// addresses; the operation says which step failed.
		op := strings.TrimSpace(opErr.Op + " " + opErr.Net)
		return op + ": " + detailFor(opErr.Err)
	case errors.As(err, &urlErr):
		return detailFor(urlErr.Err) // its URL carries the check's query string
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the peer (" + maskQuoted(err.Error()) + ")"
	case errors.Is(err, context.DeadlineExceeded):
		return "" // Check.Probe says "timed out after" the timeout
	}
	return maskQuoted(err.Error())
}

// hostnameDetail puts the name that was asked for first, so that a
// certificate listing many names is cut after it.
func hostnameDetail(e x509.HostnameError) string {
	if e.Certificate == nil {
		return maskQuoted(e.Error())
	}
	names := append([]string(nil), e.Certificate.DNSNames...)
	for _, ip := range e.Certificate.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "certificate not valid for " + e.Host + ": it names no host (no subject alternative names)"
	}
	return "certificate not valid for " + e.Host + ": it names " + strings.Join(names, ", ")
}

// maskQuoted replaces the contents of each double-quoted part of s, as Go's
// %q writes them, with an ellipsis.
func maskQuoted(s string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(s, '"')
		if open < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:open])
		b.WriteString(`"…"`)
		i := open + 1
		for i < len(s) && s[i] != '"' {
			if s[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(s) {
			return b.String()
		}
		s = s[i+1:]
	}
}

// capDetail makes a detail safe for one log line: valid UTF-8, no control
// characters, at most MaxDetail bytes (cut on a rune boundary, with an
// ellipsis).
func capDetail(s string) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	s = strings.TrimSpace(s)
	if len(s) <= MaxDetail {
		return s
	}
	const ellipsis = "…"
	cut := MaxDetail - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// checkName is the check as an operator recognises it in the Corefile,
// without the query string (it may carry a token) and userinfo.
func checkName(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

// CheckName is a check URL as errors and logs may show it: without its
// query string and userinfo, which may carry secrets. A string that does
// not parse as a URL loses them too, as far as they can be told apart.
func CheckName(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return checkName(u)
	}
	raw, _, _ = strings.Cut(raw, "?")
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 && !strings.Contains(rest[:at], "/") {
			rest = rest[at+1:]
		}
		raw = scheme + "://" + rest
	}
	return raw
}

// roundDuration rounds d for a message: to the millisecond, or to the
// microsecond below 10ms.
func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// String describes the result in one line for a log, e.g.
// "http://www.example.org/health at 192.0.2.10:80: status_503 (status 503, want 200-299)".
func (r Result) String() string {
	var b strings.Builder
	b.WriteString(r.Check)
	if r.Addr.IsValid() {
		b.WriteString(" at ")
		if r.Addr.Port() == 0 {
			b.WriteString(r.Addr.Addr().String())
		} else {
			b.WriteString(r.Addr.String())
		}
	}
	if r.OK {
		fmt.Fprintf(&b, ": ok in %s", roundDuration(r.Duration))
		return b.String()
	}
	b.WriteString(": " + r.Reason)
	if r.Detail != "" {
		b.WriteString(" (" + r.Detail + ")")
	}
	return b.String()
}

// statusList writes the accepted HTTP statuses, e.g. "200-299 or 404".
func statusList(ranges []statusRange) string {
	parts := make([]string, len(ranges))
	for i, r := range ranges {
		parts[i] = strconv.Itoa(r.lo)
		if r.hi != r.lo {
			parts[i] += "-" + strconv.Itoa(r.hi)
		}
	}
	return strings.Join(parts, " or ")
}

// CleanDetail makes a detail or check name read from elsewhere (a fleet
// peer's verdict) what a local probe's would be: one printable line of at
// most MaxDetail bytes.
func CleanDetail(s string) string { return capDetail(s) }
