package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
// that it lists failover among its plugins, and runs the demo's scripted
// failover against it.
func TestBuildAndDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("Builds CoreDNS")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "coredns")
	build := exec.Command(goTool(t), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-plugins").CombinedOutput()
	if err != nil {
		t.Fatalf("coredns -plugins: %v\n%s", err, out)
	}
	// CoreDNS 1.15 prints plugin names without caddy's "dns." prefix.
	if !slices.Contains(strings.Fields(string(out)), "failover") {
		t.Fatalf("coredns -plugins does not list failover:\n%s", out)
	}

	demo := exec.Command(goTool(t), "run", "../demo", "-coredns", bin, "-dns-port", "0", "-once")
	demo.Stdin = nil
	out, err = demo.CombinedOutput()
	t.Logf("make demo, scripted part:\n%s", out)
	if err != nil {
		t.Fatalf("Demo failed: %v", err)
	}
	for _, want := range []string{"Primary 127.0.0.1 stopped:", "A 127.0.0.2", "A 127.0.0.3", "Both back:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Demo output lacks %q", want)
		}
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
