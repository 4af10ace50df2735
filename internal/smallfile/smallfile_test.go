package smallfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("s3cret\n"), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 65), 0o600)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := Read(small, 64); err != nil || string(data) != "s3cret\n" {
		t.Errorf("Read(small) = %q, %v; want its contents", data, err)
	}
	for name, want := range map[string]string{
		big: "holds 65 bytes, more than the 64 allowed", dir: "is a directory, not a regular file",
		fifo: "is a named pipe (FIFO), not a regular file", filepath.Join(dir, "none"): "no such file",
	} {
		done := make(chan error, 1)
		go func() { _, err := Read(name, 64); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Read(%s) error %v, want one saying %q", name, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Read(%s) blocked", name)
		}
	}
}
