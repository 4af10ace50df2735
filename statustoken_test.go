package failover

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/coredns/caddy"
)

// TestParseStatusTokenFile: the token is read from a regular file of a few
// KiB at most; a FIFO (which would block the load) or a huge file named by
// mistake is refused at its line.
func TestParseStatusTokenFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 5000), 0o600)
	good := filepath.Join(dir, "token")
	os.WriteFile(good, []byte("b7e1c0ffee\n"), 0o600)
	corefile := func(file string) string {
		return "failover example.org {\n\t\tstatus 127.0.0.1:0 {\n\t\t\ttoken " + file + "\n\t\t}" + okPool + "\n\t}"
	}
	f, err := parse(caddy.NewTestController("dns", corefile(good)))
	if err != nil || f.status.Token != "b7e1c0ffee" {
		t.Fatalf("Token file: want the token read, got %v", err)
	}
	for file, want := range map[string]string{
		fifo: "Testfile:3 - Error during parsing: status token file: " + fifo + " is a named pipe (FIFO), not a regular file: give a regular file holding the token",
		big:  "holds 5000 bytes, more than the 4096 allowed",
	} {
		_, err := parse(caddy.NewTestController("dns", corefile(file)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want an error with %q, got %v", file, want, err)
		}
	}
}
