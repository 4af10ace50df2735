package failover_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/failover-dns/failover"

	"github.com/miekg/dns"
)

// TestDownLogSaysWhy: when a target goes DOWN the log names the check, the
// probe address and port, and the underlying error, and never the check's
// header values, its URL's query or the response body, which may hold
// secrets.
func TestDownLogSaysWhy(t *testing.T) {
	logs := failover.CaptureLog(t)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("secret-body-bytes"))
	})
	_, port := startBackends(t, handler, "127.0.0.1")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closedPort, _ := net.SplitHostPort(closed.Addr().String())
	closed.Close() // nothing listens there now: connections are refused
	s := startCoreDNS(t, `example.org:0 {
	failover {
		pool www.example.org {
			target 127.0.0.1
			check http://www.example.org:`+port+`/health?token=query-secret {
				header X-Token header-secret
				body_contains ok
			}
			interval 200ms
		}
		pool db.example.org {
			target 127.0.0.1
			check tcp://db.example.org:`+closedPort+`
			interval 200ms
		}
	}
}`)
	waitFor(t, detectLimit, "both DOWN lines", func() bool {
		return strings.Count(logs.String(), "is down: ") >= 2
	})
	out := logs.String()
	for _, want := range []string{
		"Pool www.example.org.: target 127.0.0.1 is down: http://www.example.org:" + port + "/health at 127.0.0.1:" + port + ": status_503 (status 503, want 200-299)",
		"Pool db.example.org.: target 127.0.0.1 is down: tcp://db.example.org:" + closedPort + " at 127.0.0.1:" + closedPort + ": refused (",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("The log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"query-secret", "header-secret", "secret-body-bytes"} {
		if strings.Contains(out, secret) {
			t.Errorf("The log shows %q:\n%s", secret, out)
		}
	}
	if r, err := s.query("udp", "www.example.org.", dns.TypeA); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("Query: %v (%v)", r, err)
	}
}
