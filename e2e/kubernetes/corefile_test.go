package kubernetes

import (
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/core/plugin" // every standard plugin
	"github.com/coredns/coredns/plugin/kubernetes"

	"github.com/failover-dns/failover"
)

func init() {
	if err := dnsserver.SetDirectives(failover.Directives(dnsserver.Directives)); err != nil {
		panic(err)
	}
}

// block is one parsed server block: its keys and each directive's tokens
// (environment variables substituted).
type block struct {
	keys   []string
	tokens map[string][]caddyfile.Token
}

// setupCorefile parses a Corefile as CoreDNS does ({$VAR} substituted from
// the process's environment) and runs every directive's setup on it, in
// plugin order, as caddy.ValidateAndExecuteDirectives does, except that
// kubernetes is only parsed (its setup would connect to a cluster).
func setupCorefile(t *testing.T, corefile string) []block {
	t.Helper()
	sblocks, err := caddyfile.Parse("Corefile", strings.NewReader(corefile), dnsserver.Directives)
	if err != nil {
		t.Fatalf("Corefile: %v", err)
	}
	c := caddy.NewTestController("dns", "")
	if sblocks, err = c.Context().InspectServerBlocks("Corefile", sblocks); err != nil {
		t.Fatalf("Corefile: %v", err)
	}
	for _, dir := range dnsserver.Directives {
		for i, sb := range sblocks {
			tokens, ok := sb.Tokens[dir]
			if !ok {
				continue
			}
			c.Dispenser = caddyfile.NewDispenserTokens("Corefile", tokens)
			c.Key, c.ServerBlockKeys, c.ServerBlockIndex, c.ServerBlockKeyIndex = sb.Keys[0], sb.Keys, i, 0
			if err := runSetup(c, dir); err != nil {
				t.Fatalf("Corefile: %s: %v", dir, err)
			}
		}
	}
	blocks := make([]block, len(sblocks))
	for i, sb := range sblocks {
		blocks[i] = block{keys: sb.Keys, tokens: sb.Tokens}
	}
	return blocks
}

func runSetup(c *caddy.Controller, dir string) error {
	if dir == "kubernetes" {
		_, err := kubernetes.ParseStanza(c)
		return err
	}
	setup, err := caddy.DirectiveAction("dns", dir)
	if err != nil {
		return err
	}
	return setup(c)
}

// port is the port of a server block key (dns://example.org.:53): 53 when
// it has none.
func (b block) port(t *testing.T) string {
	t.Helper()
	k := b.keys[0]
	k = k[strings.Index(k, "://")+3:]
	if i := strings.LastIndex(k, ":"); i >= 0 {
		return k[i+1:]
	}
	return "53"
}

// address is the first argument of a directive (health, ready,
// prometheus), or def when it has none; ok is false without the directive.
func (b block) address(dir, def string) (addr string, ok bool) {
	tokens, ok := b.tokens[dir]
	if !ok {
		return "", false
	}
	if len(tokens) > 1 && tokens[1].Line == tokens[0].Line && tokens[1].Text != "{" {
		return tokens[1].Text, true
	}
	return def, true
}

// property returns the arguments of the first line of directive dir that
// starts with word (e.g. status in failover), or nil.
func (b block) property(dir, word string) []string {
	tokens := b.tokens[dir]
	for i, tk := range tokens {
		if tk.Text != word || (i > 0 && tokens[i-1].Line == tk.Line) {
			continue
		}
		var args []string
		for _, a := range tokens[i+1:] {
			if a.Line != tk.Line || a.Text == "{" {
				break
			}
			args = append(args, a.Text)
		}
		return args
	}
	return nil
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("Address %q: %v", addr, err)
	}
	return port
}

// reachable fails if addr listens on loopback only: probes and Services
// reach the pod's own address.
func reachable(t *testing.T, what, addr string) {
	t.Helper()
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		t.Errorf("%s listens on %s: loopback only, out of reach of kubelet and Services", what, addr)
	}
}

var envRef = regexp.MustCompile(`\{\$([A-Za-z_][A-Za-z0-9_]*)\}`)

// envVars returns the {$VAR} names a Corefile uses, each with the first
// word of its line (the directive or property using it).
func envVars(corefile string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(corefile, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, m := range envRef.FindAllStringSubmatch(line, -1) {
			vars[m[1]] = strings.Fields(line)[0]
		}
	}
	return vars
}

// filePaths returns the absolute file paths a Corefile names (arguments
// that start with '/', comments left out).
func filePaths(corefile string) []string {
	var paths []string
	for _, line := range strings.Split(corefile, "\n") {
		line, _, _ = strings.Cut(line, "#")
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				paths = append(paths, f)
			}
		}
	}
	return paths
}
