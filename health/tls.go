package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"net/url"
	"time"
)

// tlsProber is healthy when the target completes a verified TLS handshake,
// and, with cert_min_days, when its certificate stays valid that long.
type tlsProber struct {
	timeout time.Duration
	config  *tls.Config
	minLife time.Duration
}

func newTLSProber(u *url.URL, o *options, cfg CheckConfig) (*tlsProber, string, error) {
	tlsCfg, digest, err := tlsConfig(o, u.Hostname(), cfg.Root)
	if err != nil {
		return nil, "", err
	}
	days, _, err := o.integer("cert_min_days", 1, 3650)
	if err != nil {
		return nil, "", err
	}
	return &tlsProber{
		timeout: cfg.Timeout,
		config:  tlsCfg,
		minLife: time.Duration(days) * 24 * time.Hour,
	}, digest, nil
}

// Probe's RTT is the time to connect and complete the handshake (curl's
// time_appconnect); checking the certificate's lifetime is not part of it.
func (p *tlsProber) Probe(ctx context.Context, dst netip.AddrPort) Result {
	start := time.Now()
	raw, err := dialProbe(ctx, dst, p.timeout)
	if err != nil {
		return failed(start, err)
	}
	defer raw.Close()
	conn := tls.Client(raw, p.config)
	if err := conn.HandshakeContext(ctx); err != nil {
		return failed(start, err)
	}
	handshaken := time.Since(start)
	if p.minLife > 0 {
		certs := conn.ConnectionState().PeerCertificates
		if len(certs) == 0 {
			return failure(start, ReasonCertExpiry, "no certificate to check the lifetime of")
		}
		if left := time.Until(certs[0].NotAfter); left < p.minLife {
			return failure(start, ReasonCertExpiry, fmt.Sprintf("certificate expires %s, in %d days: cert_min_days is %d",
				certs[0].NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24), int(p.minLife.Hours()/24)))
		}
	}
	return successRTT(start, handshaken)
}

func (p *tlsProber) Close() {}
