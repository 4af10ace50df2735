package failover_test

import (
	"bytes"
	"io"
	"sync"
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

// logBuffer collects what the plugin logs while a test runs.
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

// captureLog sends CoreDNS's log output to a buffer until the test ends.
func captureLog(t *testing.T) *logBuffer {
	t.Helper()
	l := &logBuffer{}
	clog.SetOutput(l)
	t.Cleanup(func() { clog.SetOutput(io.Discard) })
	return l
}
