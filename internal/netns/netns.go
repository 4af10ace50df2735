// Package netns runs tests in network namespaces of their own, where they
// may add addresses, routes and sysctls without touching the machine.
package netns

import (
	"os"
	"os/exec"
	"strconv"
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

// Needs skips the test when one of the commands is missing. Call it before
// Own, so that the parent skips rather than the child.
func Needs(t *testing.T, commands ...string) {
	t.Helper()
	for _, name := range commands {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("Needs the %s command", name)
		}
	}
}

// Sysctl sets a sysctl of the test's own namespace, such as
// net.ipv4.icmp_echo_ignore_all (dots for slashes; a key whose parts hold
// dots cannot be written so). It refuses outside a namespace made by Own:
// these sysctls would change the machine's.
func Sysctl(t *testing.T, key, value string) {
	t.Helper()
	if os.Getenv(env) != t.Name() {
		t.Fatalf("netns.Sysctl %s outside the network namespace of netns.Own", key)
	}
	if err := os.WriteFile(sysctlPath(key), []byte(value), 0o644); err != nil {
		t.Fatalf("Setting %s to %s: %v", key, value, err)
	}
}

// HasSysctl reports whether the kernel has the sysctl key.
func HasSysctl(key string) bool {
	_, err := os.Stat(sysctlPath(key))
	return err == nil
}

func sysctlPath(key string) string { return "/proc/sys/" + strings.ReplaceAll(key, ".", "/") }

// Peer is a second network namespace, linked to the test's own by a veth
// pair: unlike loopback, traffic over it is what the kernel rate-limits and
// queues as it would on a real link. A sleeping child process holds the
// namespace until the test ends.
type Peer struct {
	ns string // the child's /proc/PID/ns/net
}

// NewPeer makes a peer namespace with lo up and a veth pair between the
// test's namespace, which must be Own's, and the peer's: local is this
// end's address, remote the peer's, as prefixes (169.254.0.1/30). The
// documentation prefixes are local in Own's namespace: do not use them
// here. It needs nsenter (see Needs).
func NewPeer(t *testing.T, local, remote string) *Peer {
	t.Helper()
	if os.Getenv(env) != t.Name() {
		t.Fatalf("netns.NewPeer outside the network namespace of netns.Own")
	}
	holder := exec.Command("sleep", "3600")
	holder.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := holder.Start(); err != nil {
		t.Fatalf("Starting the peer namespace's process: %v", err)
	}
	t.Cleanup(func() {
		holder.Process.Kill()
		holder.Wait()
	})
	pid := strconv.Itoa(holder.Process.Pid)
	p := &Peer{ns: "/proc/" + pid + "/ns/net"}
	run(t, "ip", "link", "add", "veth-local", "type", "veth", "peer", "name", "veth-peer", "netns", pid)
	run(t, "ip", "addr", "add", local, "dev", "veth-local")
	run(t, "ip", "link", "set", "veth-local", "up")
	p.Run(t, "ip", "link", "set", "lo", "up")
	p.Run(t, "ip", "addr", "add", remote, "dev", "veth-peer")
	p.Run(t, "ip", "link", "set", "veth-peer", "up")
	return p
}

// Path names the peer's namespace (/proc/PID/ns/net), for nsenter --net.
func (p *Peer) Path() string { return p.ns }

// Run runs a command inside the peer's namespace.
func (p *Peer) Run(t *testing.T, name string, args ...string) {
	t.Helper()
	run(t, "nsenter", append([]string{"--net=" + p.ns, "--", name}, args...)...)
}

// Sysctl sets a sysctl of the peer's namespace (see Sysctl).
func (p *Peer) Sysctl(t *testing.T, key, value string) {
	t.Helper()
	p.Run(t, "sh", "-c", `printf '%s\n' "$1" > "$2"`, "sh", value, sysctlPath(key))
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
