package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/miekg/dns"
)

// Failure reasons. They form a small fixed set (plus "status_NNN" for HTTP and "rcode_NAME" for DNS)
// so that they can be metric label values.
const (
	ReasonTimeout     = "timeout"
	ReasonRefused     = "refused"
	ReasonReset       = "reset"
	ReasonUnreachable = "unreachable"
	ReasonTLS         = "tls"
	ReasonProtocol    = "protocol"
	ReasonMismatch    = "mismatch"      // the reply lacks what the check expects (body, banner, DNS answer)
	ReasonSlow        = "slow"          // succeeded, but slower than max_latency
	ReasonCertExpiry  = "cert_expiring" // valid certificate, but not for cert_min_days more days
	ReasonNotServing  = "not_serving"   // gRPC health status other than SERVING
	ReasonLoss        = "loss"          // icmp: more echoes lost than max_loss allows
	ReasonJitter      = "jitter"        // icmp: the echoes' jitter above max_jitter
	ReasonError       = "error"
)

// reasonFor classifies a network error.
func reasonFor(err error) string {
	var (
		netErr      net.Error
		verifyErr   *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
		alertErr    tls.AlertError
		recordErr   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &errNoMatch{}):
		return ReasonMismatch
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ReasonTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ReasonReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EADDRNOTAVAIL):
		return ReasonUnreachable
	case errors.As(err, &verifyErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr),
		errors.As(err, &invalidErr), errors.As(err, &alertErr), errors.As(err, &recordErr):
		return ReasonTLS
	case strings.Contains(err.Error(), "tls: "):
		// Alerts from the peer (bad certificate, protocol version, certificate
		// required) arrive as errors of unexported types.
		return ReasonTLS
	}
	return ReasonError
}

// knownReasons are the fixed reasons, for KnownReason.
var knownReasons = map[string]bool{
	ReasonTimeout: true, ReasonRefused: true, ReasonReset: true, ReasonUnreachable: true, ReasonTLS: true,
	ReasonProtocol: true, ReasonMismatch: true, ReasonSlow: true, ReasonCertExpiry: true,
	ReasonNotServing: true, ReasonLoss: true, ReasonJitter: true, ReasonError: true,
}

// KnownReason reports whether s is a reason a probe of this version can
// give: a fixed one, "status_NNN" (an HTTP status code) or "rcode_NAME"
// (a DNS rcode), so that one read from elsewhere (a fleet peer's verdict)
// can be trusted as a metric label and a log word.
func KnownReason(s string) bool {
	if knownReasons[s] {
		return true
	}
	if code, found := strings.CutPrefix(s, "status_"); found {
		n, err := strconv.Atoi(code)
		return err == nil && n >= 100 && n <= 599 && strconv.Itoa(n) == code
	}
	if name, found := strings.CutPrefix(s, "rcode_"); found {
		for _, known := range dns.RcodeToString {
			if name == strings.ToLower(known) {
				return true
			}
		}
	}
	return false
}
