// Package logtest captures what CoreDNS's log writes while a test runs, for
// the tests of every package that logs through it.
package logtest

import (
	"bytes"
	"io"
	"sync"
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

// Buffer collects log lines; goroutines may log concurrently.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Capture sends CoreDNS's log to a buffer until the test ends, and
// discards it after.
func Capture(t testing.TB) *Buffer {
	t.Helper()
	b := &Buffer{}
	clog.SetOutput(b)
	t.Cleanup(func() { clog.SetOutput(io.Discard) })
	return b
}
