package failover

import (
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/failover-dns/failover/internal/logtest"
)

func init() { clog.Discard() }

// captureLog sends CoreDNS's log to a buffer until the test ends (it is
// discarded otherwise).
func captureLog(t *testing.T) *logtest.Buffer { return logtest.Capture(t) }

// CaptureLog is captureLog for the end-to-end tests of package failover_test.
func CaptureLog(t *testing.T) interface{ String() string } { return captureLog(t) }
