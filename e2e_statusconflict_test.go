package failover_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/coredns/coredns/test"
	"github.com/failover-dns/failover/internal/loopback"
)

// TestStatusBlocksConflict: two server blocks that name one status address
// share one listener, so they must configure it alike: one with a token and
// one without (which would serve the whole API without a token) fails the
// load at the second block's status line, as do different max_streams; the
// same status block twice loads.
func TestStatusBlocksConflict(t *testing.T) {
	port, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	block := func(zone, statusBlock string) string {
		return zone + `:0 {
    failover {
        status ` + addr + statusBlock + `
        pool www.` + zone + ` {
            target 192.0.2.10
            check tcp://www.` + zone + `:80
        }
    }
}
`
	}
	withToken := " {\n            token " + tokenFile + "\n        }"
	for _, tc := range []struct{ first, second, property string }{
		{withToken, "", "token"},
		{"", withToken, "token"},
		{" {\n            max_streams 4\n        }", "", "max_streams"},
	} {
		first := block("example.org", tc.first)
		inst, err := test.CoreDNSServer(first + block("example.net", tc.second))
		if err == nil {
			inst.ShutdownCallbacks()
			inst.Stop()
		}
		secondLine := strings.Count(first, "\n") + 3
		if err == nil || !strings.Contains(err.Error(), ":"+strconv.Itoa(secondLine)+" ") ||
			!strings.Contains(err.Error(), tc.property) || !strings.Contains(err.Error(), addr) {
			t.Errorf("Two server blocks giving status %s a different %s: %v, want an error at line %d", addr, tc.property, err, secondLine)
		}
	}
	inst, err := test.CoreDNSServer(block("example.org", withToken) + block("example.net", withToken))
	if err != nil {
		t.Fatalf("The same status block in two server blocks: %v", err)
	}
	inst.ShutdownCallbacks()
	inst.Stop()
}
