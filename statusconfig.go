package failover

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/failover-dns/failover/internal/smallfile"
	"github.com/failover-dns/failover/status"
)

// statusProperties are the properties of a status block.
var statusProperties = []string{"tls", "token", "max_streams"}

// parseStatusProperty reads 'status ADDRESS [{ tls CERT KEY; token FILE; max_streams N }]'.
// Files are read now, so that a missing one stops the load with its line.
func parseStatusProperty(c *caddy.Controller, f *Failover) error {
	const usage = "write 'status ADDRESS' with ADDRESS host:port, e.g. 'status localhost:9155', with an IPv6 address in brackets, 'status [::1]:9155'"
	if f.status != nil {
		return c.Err("status is given twice in this failover block: keep one")
	}
	line := c.Line()
	args := c.RemainingArgs()
	if len(args) != 1 {
		return c.Errf("status takes one address: %s", usage)
	}
	host, port, err := net.SplitHostPort(args[0])
	if err != nil || port == "" {
		return c.Errf("status address '%s' is not host:port: %s", args[0], usage)
	}
	if problem := listenAddrProblem(host, port); problem != "" {
		return c.Errf("status address '%s': %s: %s", args[0], problem, usage)
	}
	cfg := &status.Config{Addr: args[0]}
	root := dnsserver.GetConfig(c).Root
	err = optionBlock(c, func() error {
		var err error
		switch c.Val() {
		case "tls":
			err = parseStatusTLS(c, cfg, root)
		case "token":
			err = parseStatusToken(c, cfg, root)
		case "max_streams":
			cfg.MaxStreams, err = intArg(c, 1, 10000)
		default:
			err = c.Errf("unknown status property '%s'%s: write 'tls CERT KEY', 'token FILE' or 'max_streams N'", c.Val(), didYouMean(c.Val(), statusProperties))
		}
		return err
	})
	if err != nil {
		return err
	}
	if cfg.Token == "" && !loopbackHost(host) {
		warnAt(c, c.Line(), "status %s listens beyond loopback without a token: its page and API disclose internal addresses; add 'token FILE' to its block", args[0])
	}
	f.status, f.statusAt = cfg, line
	return nil
}

// statusConflict refuses a server block whose status listener another
// server block of the same load names with other properties: they share
// one listener, and one of them would silently lose its tls or token.
func statusConflict(c *caddy.Controller, f *Failover) error {
	if f.status == nil {
		return nil
	}
	for _, h := range generationOf(c).Handlers {
		if h.status == nil || h.status.Addr != f.status.Addr {
			continue
		}
		if prop := h.status.Conflict(*f.status); prop != "" {
			return errAt(c, f.statusAt, "status %s has a different %s from the one at line %d (server block %s): server blocks naming one address share its listener; give them the same status block",
				f.status.Addr, prop, h.statusAt, h.block)
		}
	}
	return nil
}

func parseStatusTLS(c *caddy.Controller, cfg *status.Config, root string) error {
	args := c.RemainingArgs()
	if len(args) != 2 {
		return c.Err("tls takes a certificate file and a key file: write 'tls cert.pem key.pem'")
	}
	cert, err := tls.LoadX509KeyPair(rooted(root, args[0]), rooted(root, args[1]))
	if err != nil {
		return c.Errf("status tls: %v", err)
	}
	cfg.TLS = &cert
	return nil
}

// maxTokenFile caps a token file: a token is a line, not a document.
const maxTokenFile = 4096

func parseStatusToken(c *caddy.Controller, cfg *status.Config, root string) error {
	args := c.RemainingArgs()
	if len(args) != 1 {
		return c.Err("token takes a file holding the bearer token: write 'token /etc/coredns/status-token'")
	}
	data, err := smallfile.Read(rooted(root, args[0]), maxTokenFile)
	if err != nil {
		return c.Errf("status token file: %v: give a regular file holding the token", err)
	}
	cfg.Token = strings.TrimSpace(string(data))
	if cfg.Token == "" {
		return c.Errf("status token file %s is empty: put the token in it", args[0])
	}
	return nil
}

// rooted resolves a relative file name against the root plugin's directory.
func rooted(root, file string) string {
	if filepath.IsAbs(file) || root == "" {
		return file
	}
	return filepath.Join(root, file)
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listenAddrProblem says what in a listen address's host and port (split
// by net.SplitHostPort) the listener would fail on only when it starts, or
// "". The host may be empty (every interface), an IP address or a host
// name; the port is a number (0 takes a free one).
func listenAddrProblem(host, port string) string {
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Sprintf("port '%s' is not a number from 0 to 65535", port)
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil && !hostName(host) {
		return fmt.Sprintf("host '%s' is neither an IP address nor a host name", host)
	}
	return ""
}

// hostName reports whether s is a host name: dot-separated labels of
// letters, digits and inner hyphens (RFC 1123), at most 253 characters.
func hostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.IndexFunc(label, notHostNameChar) >= 0 {
			return false
		}
	}
	return true
}

func notHostNameChar(r rune) bool {
	return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-'
}
