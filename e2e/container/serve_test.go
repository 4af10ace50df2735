package container

import (
	"archive/tar"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/internal/imagetest"
	"github.com/failover-dns/failover/internal/loopback"
	"github.com/failover-dns/failover/internal/wait"
	"golang.org/x/sys/unix"
)

// The installation guide's container example: www.example.org is 192.0.2.10 while its
// port 443 accepts connections, else 192.0.2.11. Inside a test's network
// namespace (netns.Own) both addresses are local.
const (
	exampleName = "www.example.org"
	primary     = "192.0.2.10"
	backup      = "192.0.2.11"
	checkPort   = "443"
)

// installSection returns the installation guide's text under heading, up
// to the next heading of the same level or above.
func installSection(t *testing.T, heading string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(imagetest.RepoRoot, "docs", "installation.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, found := strings.Cut(string(data), "\n"+heading+"\n")
	if !found {
		t.Fatalf("docs/installation.md has no %q", heading)
	}
	level := strings.SplitN(heading, " ", 2)[0] + " "
	for _, stop := range []string{"\n" + level, "\n" + strings.TrimPrefix(level, "#")} {
		if i := strings.Index(rest, stop); i >= 0 {
			rest = rest[:i]
		}
	}
	return rest
}

// fenced returns the contents of the section's ~~~ blocks of kind (corefile,
// sh), in order.
func fenced(section, kind string) []string {
	var out []string
	for _, block := range strings.Split(section, "~~~ "+kind+"\n")[1:] {
		out = append(out, block[:strings.Index(block, "~~~")])
	}
	return out
}

// readmeCorefile is the container section's Corefile.
func readmeCorefile(t *testing.T) string {
	t.Helper()
	blocks := fenced(installSection(t, "## A container image"), "corefile")
	if len(blocks) != 1 {
		t.Fatalf("The guide's container section has %d corefile blocks, want 1", len(blocks))
	}
	return blocks[0]
}

// backends listens on checkPort of the primary and the backup, as the
// example's backends; closing a listener takes its target down.
func backends(t *testing.T) map[string]net.Listener {
	t.Helper()
	out := map[string]net.Listener{}
	for _, addr := range []string{primary, backup} {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, checkPort))
		if err != nil {
			t.Fatalf("Listening as the backend %s: %v", addr, err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		out[addr] = l
	}
	return out
}

// checkFailover waits until server answers the primary over UDP and TCP,
// stops the primary's backend, and waits until it answers the backup.
func checkFailover(t *testing.T, server string, listeners map[string]net.Listener) {
	t.Helper()
	for _, want := range []string{primary, backup} {
		wait.For(t, 30*time.Second, 100*time.Millisecond, fmt.Sprintf("%s to answer %s over UDP and TCP", server, want), func() bool {
			for _, proto := range []string{"udp", "tcp"} {
				if got, err := loopback.LookupAOver(server, exampleName, proto); err != nil || !slices.Equal(got, []string{want}) {
					return false
				}
			}
			return true
		})
		if want == primary {
			listeners[primary].Close()
		}
	}
}

// unpackRootFS writes the image's files under root, with their extended
// attributes (the binary's capability), as a container runtime would.
func unpackRootFS(t *testing.T, l loaded, root string) {
	t.Helper()
	rc := extract(l)
	defer rc.Close()
	err := unpack(rc, root, func(dst string, h *tar.Header) error {
		for k, v := range h.PAXRecords {
			if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				if err := unix.Setxattr(dst, name, []byte(v), 0); err != nil {
					return fmt.Errorf("setting %s on %s: %w", name, dst, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Unpacking the image: %v", err)
	}
	if err := os.Chmod(root, 0o755); err != nil { // a TempDir is the root's alone
		t.Fatal(err)
	}
}
