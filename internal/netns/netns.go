// Package netns runs tests in network namespaces of their own, where they
// may add addresses, routes and sysctls without touching the machine.
package netns

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// env names the test a child process runs inside its own network namespace.
const env = "FAILOVER_TEST_NETNS"

// Own runs the calling test again in a child process inside a new network
// namespace. It returns true in the child, which should carry on with the
// test, and false in the parent, which should return. The parent skips the
// test without root or the ip command, and fails it when the child fails.
// Inside, lo is up with ::1 plus 2001:db8::2 and 2001:db8::3, and the
// documentation prefixes 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and
// 2001:db8::/32 are delivered locally, so nothing leaves the namespace.
func Own(t *testing.T) bool {
	t.Helper()
	if os.Getenv(env) == t.Name() {
		for _, args := range [][]string{
			{"link", "set", "lo", "up"},
			{"-6", "addr", "add", "2001:db8::2/128", "dev", "lo", "nodad"},
			{"-6", "addr", "add", "2001:db8::3/128", "dev", "lo", "nodad"},
			{"route", "add", "local", "192.0.2.0/24", "dev", "lo"},
			{"route", "add", "local", "198.51.100.0/24", "dev", "lo"},
			{"route", "add", "local", "203.0.113.0/24", "dev", "lo"},
			{"-6", "route", "add", "local", "2001:db8::/32", "dev", "lo"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("Needs root to create a network namespace (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("Needs the ip command (Debian package iproute2; .ci/run installs it)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	t.Logf("In its own network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("The test failed in its network namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("The test did not run in its network namespace")
	}
	return false
}
