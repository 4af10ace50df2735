package failover

import (
	"bytes"
	"io"
	"sync"
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

func init() { clog.Discard() }

// logBuffer collects what the plugin logs while a test runs; probe
// goroutines may log concurrently.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// captureLog sends CoreDNS's log to a buffer until the test ends (it is
// discarded otherwise).
func captureLog(t *testing.T) *logBuffer {
	t.Helper()
	l := &logBuffer{}
	clog.SetOutput(l)
	t.Cleanup(func() { clog.SetOutput(io.Discard) })
	return l
}

// CaptureLog is captureLog for the end-to-end tests of package failover_test.
func CaptureLog(t *testing.T) interface{ String() string } { return captureLog(t) }
