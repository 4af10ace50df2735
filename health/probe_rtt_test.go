package health

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/testpki"
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
