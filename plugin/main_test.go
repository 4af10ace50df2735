package main

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
)

// goTool finds the go command: 'go test' puts its own GOROOT/bin first in
// the PATH of the tests it runs.
func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("No go command in PATH: %v", err)
	}
	return p
}

// TestBuildAndDemo builds the coredns binary as 'make coredns' does, checks
// that it lists failover among its plugins, runs the demo's scripted
// failover against it, and checks that the demo reports CoreDNS's own
// start-up error at once when its port (make demo DNS_PORT=...) is taken.
func TestBuildAndDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("Builds CoreDNS")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "coredns")
	demoBin := filepath.Join(dir, "demo")
	for _, b := range [][]string{{"-o", bin, "."}, {"-o", demoBin, "../demo"}} {
		build := exec.Command(goTool(t), append([]string{"build"}, b...)...)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %v: %v\n%s", b, err, out)
		}
	}

	t.Run("Plugins", func(t *testing.T) {
		out, err := exec.Command(bin, "-plugins").CombinedOutput()
		if err != nil {
			t.Fatalf("coredns -plugins: %v\n%s", err, out)
		}
		// CoreDNS 1.15 prints plugin names without caddy's "dns." prefix.
		if !slices.Contains(strings.Fields(string(out)), "failover") {
			t.Fatalf("coredns -plugins does not list failover:\n%s", out)
		}
	})

	t.Run("ScriptedFailover", func(t *testing.T) {
		out, err := exec.Command(demoBin, "-coredns", bin, "-dns-port", "0", "-once").CombinedOutput()
		t.Logf("make demo, scripted part:\n%s", out)
		if err != nil {
			t.Fatalf("Demo failed: %v", err)
		}
		for _, want := range []string{"Primary 127.0.0.1 stopped:", "A 127.0.0.2", "A 127.0.0.3", "Both back:"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("Demo output lacks %q", want)
			}
		}
		// The first screen shows the failover, not the ready plugin's
		// complaints at being asked too early.
		if n := strings.Count(string(out), "Plugins not ready"); n > 0 {
			t.Errorf("Demo output has %d lines of \"Plugins not ready\"", n)
		}
	})

	t.Run("PortInUse", func(t *testing.T) {
		port := busyPort(t)
		checkFailsFast(t, 20*time.Second, port,
			exec.Command(demoBin, "-coredns", bin, "-dns-port", port, "-once"))
	})

	// The same through make, whose DNS_PORT reaches the demo; -o coredns
	// keeps make from rebuilding ./coredns, and 'go run' links the demo
	// (hence the looser bound).
	t.Run("MakeDemoPortInUse", func(t *testing.T) {
		mk, err := exec.LookPath("make")
		if err != nil {
			t.Skipf("No make: %v", err)
		}
		port := busyPort(t)
		checkFailsFast(t, 60*time.Second, port,
			exec.Command(mk, "-s", "-C", "..", "-o", "coredns", "demo",
				"GO="+goTool(t), "COREDNS="+bin, "DNS_PORT="+port))
	})
}

// busyPort holds a port on 127.0.0.1 (TCP, and UDP when it can) for the
// rest of the test, and returns it.
func busyPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", port)); err == nil {
		t.Cleanup(func() { pc.Close() })
	}
	return port
}

// checkFailsFast runs a demo whose DNS port is taken, and wants it to fail
// within limit with CoreDNS's own error about that port.
func checkFailsFast(t *testing.T, limit time.Duration, port string, cmd *exec.Cmd) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(2*limit, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	took := time.Since(start)
	t.Logf("Demo on busy port %s: %v after %s:\n%s", port, err, took.Round(time.Millisecond), out.String())
	if err == nil {
		t.Fatalf("Demo succeeded on a busy port")
	}
	if took > limit {
		t.Errorf("Demo took %s to fail, want under %s", took.Round(time.Millisecond), limit)
	}
	want := "demo: CoreDNS exited (exit status 1): Listen: listen tcp 127.0.0.1:" + port + ": bind: address already in use"
	if !strings.Contains(out.String(), want) {
		t.Errorf("Demo output lacks %q", want)
	}
}

// TestRegisteredForDNS checks the name caddy registers the plugin under,
// which is what 'coredns -plugins' listed as dns.failover before 1.15.
func TestRegisteredForDNS(t *testing.T) {
	if !slices.Contains(caddy.ListPlugins()["others"], "dns.failover") {
		t.Fatalf("dns.failover is not registered: %v", caddy.ListPlugins()["others"])
	}
	if i, j := slices.Index(dnsserver.Directives, "failover"), slices.Index(dnsserver.Directives, "hosts"); i < 0 || i != j-1 {
		t.Fatalf("failover should sit just before hosts in the directive order, got index %d (hosts %d)", i, j)
	}
}
