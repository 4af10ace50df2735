package failover

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/internal/testpki"
)

func TestParseValid(t *testing.T) {
	c := caddy.NewTestController("dns", `failover example.org {
		pool www.example.org web.example.org {
			target 192.0.2.1
			target 192.0.2.2 priority 2 weight 5
			target 2001:db8::1
			check https://www.example.org/health
			interval 10s
			rise 3
			fall 4
			ttl 20
		}
		pool api.example.org {
			target 192.0.2.9
			check tcp://api.example.org:443
			interval 1s
		}
	}`)
	f, err := parse(c)
	if err != nil {
		t.Fatalf("Expected no error, got %v", err)
	}
	if len(f.pools) != 2 {
		t.Fatalf("Expected 2 pools, got %d", len(f.pools))
	}
	www := f.pools[0]
	if www.names[1] != "web.example.org." || f.names["web.example.org."].pool != www {
		t.Errorf("Names not registered: %v", www.names)
	}
	if www.interval != 10*time.Second || www.timeout != defaultTimeout || www.rise != 3 || www.fall != 4 || www.ttl != 20 {
		t.Errorf("Properties not parsed: %+v", www)
	}
	if tg := www.targets[1]; tg.priority != 2 || tg.weight != 5 {
		t.Errorf("Target options not parsed: %+v", tg)
	}
	api := f.pools[1]
	if api.timeout != 500*time.Millisecond || api.ttl != defaultTTL || api.rise != defaultRise || api.fall != defaultFall {
		t.Errorf("Defaults not applied (timeout is half a short interval): %+v", api)
	}
	if _, ok := f.existing["example.org."]; !ok {
		t.Errorf("Zone apex not marked as existing")
	}
	if f.negTTL != 20 {
		t.Errorf("Negative TTL: got %d, want the smallest pool ttl 20", f.negTTL)
	}
}

func TestParseEmptyNonTerminals(t *testing.T) {
	c := caddy.NewTestController("dns", `failover example.org {
		pool a.b.c.example.org {
			target 192.0.2.1
			check tcp://a.b.c.example.org:80
		}
	}`)
	f, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"b.c.example.org.", "c.example.org.", "example.org."} {
		if f.existing[n] != "example.org." {
			t.Errorf("%s not marked as an existing name in example.org.", n)
		}
	}
	if _, ok := f.existing["org."]; ok {
		t.Errorf("org. is outside the zone and must not be marked")
	}
}

func TestParseDefaultZonesFromServerBlock(t *testing.T) {
	c := caddy.NewTestController("dns", `failover {
		pool www.example.net {
			target 192.0.2.1
			check tcp://www.example.net:80
		}
	}`)
	c.ServerBlockKeys = []string{"example.net:53"}
	if _, err := parse(c); err != nil {
		t.Fatalf("Expected no error, got %v", err)
	}
	c = caddy.NewTestController("dns", `failover {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
	}`)
	c.ServerBlockKeys = []string{"example.net:53"}
	if _, err := parse(c); err == nil || !strings.Contains(err.Error(), "not inside the zones of this block (example.net.)") {
		t.Fatalf("Expected a zone error, got %v", err)
	}
}

// TestParseZonesOutsideServerBlock: zones on the failover line that are
// not inside the server block's zones would be probed, but CoreDNS refuses
// their queries before failover sees them: the load stops at the line.
func TestParseZonesOutsideServerBlock(t *testing.T) {
	for _, tc := range []struct {
		keys  []string
		zones string
		want  string // "" loads
	}{
		{[]string{"example.net:53"}, "example.org", "Testfile:1 - Error during parsing: zone 'example.org.' on the failover line is not inside this server block's zones (example.net.): CoreDNS refuses its queries before failover sees them: add example.org to the server block's keys, or give failover zones under example.net."},
		{[]string{"dns://example.net:53", "example.com"}, "example.com sub.example.org", "zone 'sub.example.org.' on the failover line is not inside this server block's zones (example.net. example.com.)"},
		{[]string{"sub.example.org"}, "example.org", "zone 'example.org.' on the failover line is not inside this server block's zones (sub.example.org.)"},
		{[]string{"example.net:53"}, "example.net", ""},
		{[]string{"example.net:53"}, "www.example.net", ""},
		{[]string{"example.net", "example.org"}, "example.org", ""},
		{[]string{".:53"}, "example.org", ""},
		{[]string{"10.0.0.0/23"}, "1.0.10.in-addr.arpa", ""},
	} {
		c := caddy.NewTestController("dns", `failover `+tc.zones+` {
		pool `+strings.Fields(tc.zones)[0]+` {
			target 192.0.2.1
			check tcp://192.0.2.1:80
		}
	}`)
		c.ServerBlockKeys = tc.keys
		_, err := parse(c)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("failover %s in server block %v: got %v, want %q", tc.zones, tc.keys, err, tc.want)
		}
	}
}

// TestParseInternationalizedName: a pool name with non-ASCII letters answers
// for its IDNA (punycode) form, which is what queries carry.
func TestParseInternationalizedName(t *testing.T) {
	c := caddy.NewTestController("dns", `failover example.org {
		pool bücher.example.org Straße.example.org {
			target 192.0.2.1
			check tcp://192.0.2.1:80
		}
	}`)
	f, err := parse(c)
	if err != nil {
		t.Fatalf("Expected no error, got %v", err)
	}
	want := []string{"xn--bcher-kva.example.org.", "xn--strae-oqa.example.org."}
	if got := f.pools[0].names; !slices.Equal(got, want) {
		t.Errorf("Pool names %q, want %q", got, want)
	}
	for _, name := range want {
		if f.names[name].pool != f.pools[0] {
			t.Errorf("%s does not answer from the pool", name)
		}
	}
}

func TestParseCAFileRelativeToRoot(t *testing.T) {
	dir := t.TempDir()
	// A valid certificate is not needed to test path resolution: a file that
	// is found but is not PEM fails differently from one that is not found.
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := caddy.NewTestController("dns", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check https://www.example.org/ {
				ca ca.pem
			}
		}
	}`)
	dnsserver.GetConfig(c).Root = dir
	_, err := parse(c)
	if err == nil || !strings.Contains(err.Error(), "Testfile:5 - Error during parsing: ca file 'ca.pem' holds no PEM certificate") {
		t.Fatalf("Expected the ca path to resolve against root %s, got %v", dir, err)
	}
}

// okPool is a valid pool, for cases about the block around it.
const okPool = `
	pool www.example.org {
		target 192.0.2.1
		check tcp://www.example.org:80
	}`

// parseErrorCase is a Corefile with one mistake and the error it must give,
// which includes the expected "Testfile:LINE - ".
type parseErrorCase struct {
	name, input, want string
}

// checkParseErrors checks that every mistake names the Corefile line and says what to write.
func checkParseErrors(t *testing.T, cases []parseErrorCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(caddy.NewTestController("dns", tc.input))
			if err == nil {
				t.Fatalf("Expected error %q, got none", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Expected error containing\n  %q\ngot\n  %q", tc.want, err.Error())
			}
		})
	}
}

// blockErrors: mistakes in the failover block itself.
var blockErrors = []parseErrorCase{
	{"unknown plugin property", `failover example.org {
		pools www.example.org
	}`, "Testfile:2 - Error during parsing: unknown property 'pools' (did you mean 'pool'?): inside 'failover {' write 'pool NAME... {' blocks, 'overrides FILE', 'status ADDRESS', 'notify URL' or 'fleet etcd ENDPOINT...'"},
	{"misspelt plugin property", `failover example.org {
		overide /tmp/overrides
	}`, "Testfile:2 - Error during parsing: unknown property 'overide' (did you mean 'overrides'?): inside 'failover {'"},
	{"no pool", `failover example.org {
	}`, "Testfile:1 - Error during parsing: failover has no pool: add 'pool NAME {'"},
	{"status without address", `failover example.org {
		status
	}`, "Testfile:2 - Error during parsing: status takes one address: write 'status ADDRESS'"},
	{"status address without port", `failover example.org {
		status localhost
	}`, "Testfile:2 - Error during parsing: status address 'localhost' is not host:port"},
	{"status port out of range", `failover example.org {
		status 127.0.0.1:99999
	}`, "Testfile:2 - Error during parsing: status address '127.0.0.1:99999': port '99999' is not a number from 0 to 65535: write 'status ADDRESS' with ADDRESS host:port, e.g. 'status localhost:9155'"},
	{"status port not a number", `failover example.org {
		status localhost:http
	}`, "Testfile:2 - Error during parsing: status address 'localhost:http': port 'http' is not a number from 0 to 65535"},
	{"status host not an address or name", `failover example.org {
		status local_host:9155
	}`, "Testfile:2 - Error during parsing: status address 'local_host:9155': host 'local_host' is neither an IP address nor a host name: write 'status ADDRESS'"},
	{"status IPv6 without brackets", `failover example.org {
		status ::1:9155
	}`, "Testfile:2 - Error during parsing: status address '::1:9155' is not host:port: write 'status ADDRESS' with ADDRESS host:port, e.g. 'status localhost:9155', with an IPv6 address in brackets, 'status [::1]:9155'"},
	{"status twice", `failover example.org {
		status localhost:9155
		status localhost:9156
	}`, "Testfile:3 - Error during parsing: status is given twice in this failover block: keep one"},
	{"unknown status property", `failover example.org {
		status localhost:9155 {
			tokens /etc/token
		}
	}`, "Testfile:3 - Error during parsing: unknown status property 'tokens' (did you mean 'token'?): write 'tls CERT KEY', 'token FILE' or 'max_streams N'"},
	{"missing token file", `failover example.org {
		status localhost:9155 {
			token /nonexistent/status-token
		}
	}`, "Testfile:3 - Error during parsing: status token file: open /nonexistent/status-token: no such file or directory"},
	{"missing certificate", `failover example.org {
		status localhost:9155 {
			tls /nonexistent/cert.pem /nonexistent/key.pem
		}
	}`, "Testfile:3 - Error during parsing: status tls: open /nonexistent/cert.pem: no such file or directory"},
	{"empty failover block on one line", `failover example.org {}`,
		"Testfile:1 - Error during parsing: failover has no pool: its block '{}' is empty; write 'failover [ZONES...] {', then 'pool NAME {' blocks, and '}' on its own line"},
	{"used twice", `failover example.org {` + okPool + `
	}
	failover example.org {` + okPool + `
	}`, "Testfile:7 - Error during parsing: failover is used more than once in this server block"},
}

// poolErrors: mistakes in a pool's names and block.
var poolErrors = []parseErrorCase{
	{"duplicate pool name", `failover example.org {` + okPool + `
		pool WWW.example.org {
			target 192.0.2.2
			check tcp://www.example.org:80
		}
	}`, "Testfile:6 - Error during parsing: pool name 'www.example.org.' is already used by the pool at line 2"},
	{"name outside zones", `failover example.org {
		pool www.example.net {
			target 192.0.2.1
			check tcp://www.example.net:80
		}
	}`, "Testfile:2 - Error during parsing: pool name 'www.example.net.' is not inside the zones of this block (example.org.)"},
	{"wildcard name", `failover example.org {
		pool *.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
	}`, "Testfile:2 - Error during parsing: pool name '*.example.org' is a wildcard"},
	{"bad internationalized name", `failover example.org {
		pool bü_cher.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
	}`, "Testfile:2 - Error during parsing: pool name 'bü_cher.example.org' is not a valid internationalized domain name (idna: disallowed rune U+005F): correct the letters, or write its punycode (xn--) form"},
	{"internationalized name outside zones", `failover example.org {
		pool bücher.example.net {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
	}`, "Testfile:2 - Error during parsing: pool name 'xn--bcher-kva.example.net.' (bücher.example.net) is not inside the zones of this block (example.org.)"},
	{"internationalized name used twice", `failover example.org {
		pool bücher.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
		pool xn--bcher-kva.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
	}`, "Testfile:6 - Error during parsing: pool name 'xn--bcher-kva.example.org.' is already used by the pool at line 2"},
	{"pool without name", `failover example.org {
		pool {
			target 192.0.2.1
		}
	}`, "Testfile:2 - Error during parsing: pool has no name: write 'pool www.example.org {'"},
	{"pool without block", `failover example.org {
		pool www.example.org
	}`, "Testfile:2 - Error during parsing: pool www.example.org needs a block"},
	{"empty block on the pool line", `failover example.org {
		pool www.example.org web.example.org {}
	}`, "Testfile:2 - Error during parsing: pool www.example.org has an empty block '{}', so no target and no check: write 'pool www.example.org web.example.org {', then 'target ADDRESS' and 'check URL' lines, and '}' on its own line"},
	{"empty block without a name", `failover example.org {
		pool {}
	}`, "Testfile:2 - Error during parsing: pool has no name: write 'pool www.example.org {'"},
	{"no target", `failover example.org {
		pool www.example.org {
			check tcp://www.example.org:80
		}
	}`, "Testfile:2 - Error during parsing: pool www.example.org. has no target: add 'target ADDRESS' lines"},
	{"no check", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
		}
	}`, "Testfile:2 - Error during parsing: pool www.example.org. has no check: add a line like 'check http://www.example.org/health'"},
	{"unknown pool property", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			intervall 5s
		}
	}`, "Testfile:5 - Error during parsing: unknown property 'intervall' in pool (did you mean 'interval'?): write one of target, check, require, interval, fast_interval, timeout, rise, fall, watch, ttl, degraded_ttl, policy, max_answers, fastest_margin, slow_rtt, min_healthy, all_down, startup, failback, adaptive_ttl or region"},
	{"unknown pool property, nothing near", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			colour blue
		}
	}`, "Testfile:5 - Error during parsing: unknown property 'colour' in pool: write one of target, check,"},
	{"property given twice", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			interval 5s
			interval 10s
		}
	}`, "Testfile:6 - Error during parsing: 'interval' is given twice in this pool (first at line 5): keep one"},
}

// targetErrors: mistakes in target lines.
var targetErrors = []parseErrorCase{
	{"bad address", `failover example.org {
		pool www.example.org {
			target 192.0.2.300
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: target '192.0.2.300' is not an IP address: write an IPv4 or IPv6 address"},
	{"hostname target", `failover example.org {
		pool www.example.org {
			target backend.example.org
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: target 'backend.example.org' is not an IP address"},
	{"mapped address", `failover example.org {
		pool www.example.org {
			target ::ffff:192.0.2.1
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: target '::ffff:192.0.2.1' is an IPv4-mapped IPv6 address: write it as 192.0.2.1"},
	{"unknown target option", `failover example.org {
		pool www.example.org {
			target 192.0.2.1 prio 2
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: unknown target option 'prio' (did you mean 'priority'?): write 'target ADDRESS [priority N] [weight N] [probe ADDRESS[:PORT]] [region NAME]'"},
	{"misspelt target option", `failover example.org {
		pool www.example.org {
			target 192.0.2.1 wieght 2
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: unknown target option 'wieght' (did you mean 'weight'?): write 'target ADDRESS"},
	{"negative priority", `failover example.org {
		pool www.example.org {
			target 192.0.2.1 priority -1
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: target priority '-1' is not a whole number from 0 to 65535"},
	{"duplicate target", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			target 192.0.2.1 priority 2
			check tcp://www.example.org:80
		}
	}`, "Testfile:4 - Error during parsing: target 192.0.2.1 is listed twice in this pool (first at line 3): remove one"},
	{"target option given twice", `failover example.org {
		pool www.example.org {
			target 192.0.2.1 priority 1 priority 2
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: target option 'priority' is given twice: keep one"},
	{"bad probe address", `failover example.org {
		pool www.example.org {
			target 192.0.2.1 probe mgmt.example.org:8081
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: probe 'mgmt.example.org:8081' is not an address: write 'probe 10.0.0.10', 'probe 10.0.0.10:8081'"},
	{"IPv6 probe address and port without brackets", `failover example.org {
		pool www.example.org {
			target 2001:db8::1 probe 2001:db8::10:8081
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: probe '2001:db8::10:8081' is an IPv6 address without brackets: write 'probe [2001:db8::10:8081]' for that address, or 'probe [2001:db8::10]:8081' for port 8081 of 2001:db8::10"},
	{"IPv6 probe address without brackets", `failover example.org {
		pool www.example.org {
			target 2001:db8::1 probe 2001:db8::10
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: probe '2001:db8::10' is an IPv6 address without brackets: write 'probe [2001:db8::10]', or 'probe [2001:db8::10]:PORT' with a port"},
	{"IPv4 probe address in brackets", `failover example.org {
		pool www.example.org {
			target 192.0.2.1 probe [10.0.0.10]
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: probe '[10.0.0.10]' is not an address: write 'probe 10.0.0.10', 'probe 10.0.0.10:8081', 'probe [2001:db8::10]' or 'probe [2001:db8::10]:8081'"},
	{"probe port zero", `failover example.org {
		pool www.example.org {
			target 192.0.2.1 probe 10.0.0.10:0
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: probe '10.0.0.10:0' is not an address"},
	{"undeclared region", `failover example.org {
		pool www.example.org {
			region europe 198.51.100.0/24
			target 192.0.2.1
			target 192.0.2.2 region eu
			check tcp://www.example.org:80
		}
	}`, "Testfile:5 - Error during parsing: target 192.0.2.2 is in region 'eu', which pool www.example.org. does not declare: add 'region eu NETWORK...'"},
	{"misspelt region", `failover example.org {
		pool www.example.org {
			region europe 198.51.100.0/24
			check tcp://www.example.org:80
			target 192.0.2.1 region eurpoe
		}
	}`, "Testfile:5 - Error during parsing: target 192.0.2.1 is in region 'eurpoe', which pool www.example.org. does not declare (did you mean 'europe'?): add 'region eurpoe NETWORK...'"},
}

// propertyErrors: mistakes in the values of pool properties and the rules between them.
var propertyErrors = []parseErrorCase{
	{"bad duration", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			interval 5
		}
	}`, "Testfile:5 - Error during parsing: interval '5' is not a duration: write a number with a unit, e.g. 5s or 500ms"},
	{"negative duration", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			timeout -2s
		}
	}`, "Testfile:5 - Error during parsing: timeout -2s is too short: write at least 10ms"},
	{"interval too short", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			interval 1ms
		}
	}`, "Testfile:5 - Error during parsing: interval 1ms is too short: write at least 100ms"},
	{"rise zero", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			rise 0
		}
	}`, "Testfile:5 - Error during parsing: rise '0' is not a whole number from 1 to 100"},
	{"fall not a number", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			fall three
		}
	}`, "Testfile:5 - Error during parsing: fall 'three' is not a whole number from 1 to 100"},
	{"ttl missing", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			ttl
		}
	}`, "Testfile:5 - Error during parsing: ttl takes one number"},
	{"timeout not below interval", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			timeout 5s
			interval 5s
		}
	}`, "Testfile:5 - Error during parsing: timeout 5s must be shorter than interval 5s: lower the timeout or raise the interval"},
	{"fast_interval above interval", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			interval 1s
			fast_interval 2s
		}
	}`, "Testfile:6 - Error during parsing: fast_interval 2s must not be longer than interval 1s"},
	{"require more than the checks", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			check tcp://www.example.org:443
			require 3
		}
	}`, "Testfile:6 - Error during parsing: require '3' is not all, any or a number from 1 to 2 (the pool's checks)"},
	{"unknown policy", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			policy nearest
		}
	}`, "Testfile:5 - Error during parsing: policy takes one of priority, first, weighted, round_robin, random, hash or fastest, not 'nearest': write e.g. 'policy weighted'"},
	{"fastest_margin without policy fastest", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			fastest_margin 10% 2ms
		}
	}`, "Testfile:5 - Error during parsing: fastest_margin applies to 'policy fastest' only, and this pool's policy is priority: add 'policy fastest' or remove the line"},
	{"fastest_margin percentage", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			policy fastest
			fastest_margin 120% 2ms
		}
	}`, "Testfile:6 - Error during parsing: fastest_margin percentage '120%' is not one from 0% to 99%: fastest_margin takes a percentage from 0% to 99%, a duration and optionally a number of rounds from 1 to 100: write e.g. 'fastest_margin 20% 5ms 3'"},
	{"fastest_margin without duration", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			policy fastest
			fastest_margin 20%
		}
	}`, "Testfile:6 - Error during parsing: fastest_margin takes a percentage from 0% to 99%, a duration and optionally a number of rounds from 1 to 100: write e.g. 'fastest_margin 20% 5ms 3' (got 1 arguments)"},
	{"fastest_margin rounds", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			policy fastest
			fastest_margin 20% 5ms 0
		}
	}`, "Testfile:6 - Error during parsing: fastest_margin rounds '0' is not a whole number from 1 to 100"},
	{"fastest_margin duration", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			policy fastest
			fastest_margin 20% fast
		}
	}`, "Testfile:6 - Error during parsing: fastest_margin duration 'fast' is not a duration of 0 or more"},
	{"slow_rtt not under the timeout", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			slow_rtt 2s
		}
	}`, "Testfile:5 - Error during parsing: slow_rtt 2s is not shorter than the timeout 2s: a round that slow fails, so no target could ever be slow; lower slow_rtt or raise the timeout"},
	{"slow_rtt not under max_latency", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80 {
				max_latency 100ms
			}
			slow_rtt 100ms
		}
	}`, "Testfile:7 - Error during parsing: slow_rtt 100ms is not below the checks' max_latency (at most 100ms): a round that slow fails, so no target could ever be slow; lower slow_rtt or raise max_latency"},
	{"slow_rtt too short", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			slow_rtt 10us
		}
	}`, "Testfile:5 - Error during parsing: slow_rtt 10us is too short: write at least 1ms"},
	{"misspelt policy", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			policy round-robin
		}
	}`, "Testfile:5 - Error during parsing: policy takes one of priority, first, weighted, round_robin, random, hash or fastest, not 'round-robin': did you mean 'round_robin'?"},
	{"policy without a word", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			policy
		}
	}`, "Testfile:5 - Error during parsing: policy takes one of priority, first, weighted, round_robin, random, hash or fastest: write e.g. 'policy weighted'"},
	{"watch maybe", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			watch maybe
		}
	}`, "Testfile:5 - Error during parsing: watch takes on or off, not 'maybe': write 'watch off' to keep no idle connection to the targets"},
	{"bad min_healthy", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			min_healthy 150%
		}
	}`, "Testfile:5 - Error during parsing: min_healthy '150%' is not a percentage from 1% to 100%"},
	{"all_down fallback without addresses", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			all_down fallback
		}
	}`, "Testfile:5 - Error during parsing: all_down fallback needs addresses"},
	{"all_down unknown", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			all_down refuse
		}
	}`, "Testfile:5 - Error during parsing: all_down takes best_tier, all, servfail, nodata or 'fallback ADDRESS...', not 'refuse'"},
	{"misspelt all_down mode", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			all_down servfial
		}
	}`, "Testfile:5 - Error during parsing: all_down takes best_tier, all, servfail, nodata or 'fallback ADDRESS...', not 'servfial' (did you mean 'servfail'?)"},
	{"max_answers too big", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			max_answers 99
		}
	}`, "Testfile:5 - Error during parsing: max_answers '99' is not a whole number from 1 to 16"},
	{"startup maybe", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			startup maybe
		}
	}`, "Testfile:5 - Error during parsing: startup takes up or down, not 'maybe': how targets count until their first probe round"},
}

// checkErrors: mistakes in check lines and their options.
var checkErrors = []parseErrorCase{
	{"unsupported scheme", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check ftp://www.example.org/
		}
	}`, "Testfile:4 - Error during parsing: check scheme 'ftp' is not supported: write tcp://HOST:PORT, tls://HOST:PORT, http://HOST[:PORT]/PATH"},
	{"tcp check without port", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org
		}
	}`, "Testfile:4 - Error during parsing: check 'tcp://www.example.org' has no port"},
	{"max_latency not below timeout", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80 {
				max_latency 3s
			}
		}
	}`, "Testfile:5 - Error during parsing: max_latency 3s must be shorter than the timeout 2s"},
	{"icmp count beyond the timeout", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check icmp://www.example.org {
				count 50
			}
		}
	}`, "Testfile:5 - Error during parsing: count 50 sends its last echo 2.45s after the first (echoes go 50ms apart), which is not within the timeout 2s: write count 40 or less, or a pool timeout above 2.45s"},
	{"icmp max_loss without percent sign", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			timeout 1s
			check icmp://www.example.org {
				count 5
				max_loss 20
			}
		}
	}`, "Testfile:7 - Error during parsing: max_loss '20' needs its percent sign: write 'max_loss 20%'"},
	{"bad status range", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check http://www.example.org/ {
				method GET
				status 200 399-300
			}
		}
	}`, "Testfile:6 - Error during parsing: status '399-300' is not a code or range between 100 and 599: write e.g. 'status 200 204 300-399'"},
	{"bad regex", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check http://www.example.org/ {
				body_regex "(up"
			}
		}
	}`, "Testfile:5 - Error during parsing: body_regex '(up' is not a valid regular expression"},
	{"option given twice", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check dns://www.example.org {
				type A
				type AAAA
			}
		}
	}`, "Testfile:6 - Error during parsing: 'type' is given twice in this check (first at line 5): keep one"},
	{"unknown check option", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check https://www.example.org/ {
				cafile /etc/ca.pem
			}
		}
	}`, "Testfile:5 - Error during parsing: check option 'cafile' does not apply to https checks: write one of method, header, status, body_contains, body_regex, follow_redirects, ca, client_cert, server_name, insecure, tls_min, max_latency"},
}

// regionErrors: mistakes in region lines.
var regionErrors = []parseErrorCase{
	{"three-letter country", `failover example.org {
		pool www.example.org {
			target 192.0.2.1 region eu
			check tcp://www.example.org:80
			region eu 198.51.100.0/24 country:FRA
		}
	}`, "Testfile:5 - Error during parsing: region eu: 'country:FRA' is not a two-letter country code: write the ISO 3166-1 alpha-2 code the geoip plugin reports, e.g. country:FR or country:US"},
	{"empty country", `failover example.org {
		pool www.example.org {
			region eu country:
			target 192.0.2.1 region eu
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: region eu: 'country:' is not a two-letter country code"},
	{"country with a digit", `failover example.org {
		pool www.example.org {
			region eu country:F1
			target 192.0.2.1 region eu
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: region eu: 'country:F1' is not a two-letter country code"},
	{"unassigned country code", `failover example.org {
		pool www.example.org {
			region eu country:XX
			target 192.0.2.1 region eu
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: region eu: 'country:XX' is not a two-letter country code"},
	{"country code geoip never reports", `failover example.org {
		pool www.example.org {
			region eu country:uk
			target 192.0.2.1 region eu
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: region eu: 'country:uk' is an old or alternative code that geoip never reports: write country:GB"},
	{"misspelt continent", `failover example.org {
		pool www.example.org {
			region eu continent:EUR
			target 192.0.2.1 region eu
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: region eu: 'continent:EUR' is not a continent code (did you mean 'continent:EU'?): write continent:CC with CC one of AF, AN, AS, EU, NA, OC or SA"},
	{"unknown continent", `failover example.org {
		pool www.example.org {
			region eu continent:XX
			target 192.0.2.1 region eu
			check tcp://www.example.org:80
		}
	}`, "Testfile:3 - Error during parsing: region eu: 'continent:XX' is not a continent code: write continent:CC with CC one of AF, AN, AS, EU, NA, OC or SA"},
}

func TestParseErrorsBlock(t *testing.T)    { checkParseErrors(t, blockErrors) }
func TestParseErrorsPool(t *testing.T)     { checkParseErrors(t, poolErrors) }
func TestParseErrorsTarget(t *testing.T)   { checkParseErrors(t, targetErrors) }
func TestParseErrorsProperty(t *testing.T) { checkParseErrors(t, propertyErrors) }
func TestParseErrorsCheck(t *testing.T)    { checkParseErrors(t, checkErrors) }
func TestParseErrorsRegion(t *testing.T)   { checkParseErrors(t, regionErrors) }

func TestParseOverridesFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "overrides")
	os.WriteFile(file, []byte("# maintenance\nwww.example.org 192.0.2.1 drain\nwww.example.org 192.0.2.2 maybe\n"), 0o600)
	c := caddy.NewTestController("dns", `failover example.org {
		overrides `+file+`
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
	}`)
	_, err := parse(c)
	want := "Testfile:2 - Error during parsing: overrides file is malformed: " + file + ":3: action 'maybe' is not up, down or drain"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Expected %q, got %v", want, err)
	}
	c = caddy.NewTestController("dns", `failover example.org {
		overrides missing.txt
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			failback 10m
		}
	}`)
	dnsserver.GetConfig(c).Root = dir
	f, err := parse(c)
	if err != nil {
		t.Fatalf("A missing overrides file means no overrides, got %v", err)
	}
	if f.overrides.file != filepath.Join(dir, "missing.txt") || f.pools[0].failback != 10*time.Minute {
		t.Errorf("overrides file %q, failback %s", f.overrides.file, f.pools[0].failback)
	}
	c = caddy.NewTestController("dns", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
			failback soon
		}
	}`)
	if _, err := parse(c); err == nil || !strings.Contains(err.Error(), "Testfile:5 - Error during parsing: failback takes a duration or manual") {
		t.Fatalf("Expected a failback error, got %v", err)
	}
}

func TestParseProbeAddr(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		addr string
		port uint16
	}{
		{"10.0.0.10", "10.0.0.10", 0},
		{"10.0.0.10:8081", "10.0.0.10", 8081},
		{"[2001:db8::10]", "2001:db8::10", 0},
		{"[2001:db8::10]:8081", "2001:db8::10", 8081},
		{"[::ffff:10.0.0.10]:80", "10.0.0.10", 80},
	} {
		var tg target
		if err := parseProbeAddr(&tg, tc.arg); err != nil {
			t.Errorf("Probe %s: %v", tc.arg, err)
			continue
		}
		if tg.probeAddr.String() != tc.addr || tg.probePort != tc.port {
			t.Errorf("Probe %s: got %s port %d, want %s port %d", tc.arg, tg.probeAddr, tg.probePort, tc.addr, tc.port)
		}
	}
}

// TestParseWarnsDuplicateCheck: a check line repeated with the same options
// loads, with a warning at the repeat's line.
// TestParseWarnsOpenStatus: a status listener beyond loopback without a
// token loads, with a warning that it discloses internal addresses.
func TestParseWarnsOpenStatus(t *testing.T) {
	logged := captureLog(t)
	for _, addr := range []string{"localhost:9155", "127.0.0.1:9155", "[::1]:9155", "localhost:0", "localhost:65535", "0.0.0.0:9155"} {
		c := caddy.NewTestController("dns", `failover example.org {
		status `+addr+`
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
	}`)
		if _, err := parse(c); err != nil {
			t.Fatalf("status %s: %v", addr, err)
		}
	}
	out := logged.String()
	if strings.Count(out, "without a token") != 1 || !strings.Contains(out, "Testfile:2 - status 0.0.0.0:9155 listens beyond loopback without a token") {
		t.Errorf("Want one warning, for 0.0.0.0 only, at line 2; logged:\n%s", out)
	}
}

func TestParseWarnsDuplicateCheck(t *testing.T) {
	logged := captureLog(t)
	c := caddy.NewTestController("dns", `failover example.org {
		pool www.example.org {
			target 192.0.2.1
			check http://www.example.org/health {
				method HEAD
				status 200 204
			}
			check http://www.example.org/health {
				status 200 204
				method HEAD
			}
			check http://www.example.org/health {
				status 200
			}
			check tcp://www.example.org:80
		}
	}`)
	if _, err := parse(c); err != nil {
		t.Fatalf("A duplicate check is not fatal, got %v", err)
	}
	want := "[WARNING] plugin/failover: Testfile:8 - check http://www.example.org/health is given twice with the same options in pool www.example.org. (first at line 4): remove one"
	if got := logged.String(); !strings.Contains(got, want) || strings.Count(got, "given twice") != 1 {
		t.Errorf("Expected one warning %q, got %q", want, got)
	}
}

const overridesPools = `failover example.org {
		overrides %s
		pool www.example.org web.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
		pool api.example.org {
			target 192.0.2.2
			check tcp://api.example.org:80
		}
	}`

// TestParseWarnsUnmatchedOverrides: overrides rules whose pool matches no
// pool load, with a warning naming the file's line and the pattern.
func TestParseWarnsUnmatchedOverrides(t *testing.T) {
	logged := captureLog(t)
	file := filepath.Join(t.TempDir(), "overrides")
	os.WriteFile(file, []byte("www.example.org 192.0.2.1 drain\n# comment\nwww.exmaple.org 192.0.2.1 down\n*.example.org * up\nweb.example.org. * up\n*.example.net * down maintenance\n"), 0o600)
	if _, err := parse(caddy.NewTestController("dns", fmt.Sprintf(overridesPools, file))); err != nil {
		t.Fatalf("Unmatched rules are not fatal, got %v", err)
	}
	got := logged.String()
	for _, want := range []string{
		"[WARNING] plugin/failover: " + file + ":3 - overrides rule for pool 'www.exmaple.org' matches no pool of this server block, so it overrides nothing: " +
			"write one of its pool names (www.example.org. web.example.org. api.example.org.) or a pattern that matches one",
		file + ":6 - overrides rule for pool '*.example.net' matches no pool",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Expected a warning %q, got %q", want, got)
		}
	}
	if n := strings.Count(got, "matches no pool"); n != 2 {
		t.Errorf("Expected 2 warnings, got %d: %q", n, got)
	}
}

// TestOverridesWatchWarnsUnmatched: a changed overrides file with a rule
// that matches no pool is applied, and warned about once.
func TestOverridesWatchWarnsUnmatched(t *testing.T) {
	logged := captureLog(t)
	file := filepath.Join(t.TempDir(), "overrides")
	os.WriteFile(file, []byte("www.example.org 192.0.2.1 drain\n"), 0o600)
	f, err := parse(caddy.NewTestController("dns", fmt.Sprintf(overridesPools, file)))
	if err != nil {
		t.Fatal(err)
	}
	o := f.overrides
	o.interval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	applied, done := make(chan bool, 10), make(chan bool)
	go func() {
		o.watch(ctx, func() { applied <- true })
		close(done)
	}()
	os.WriteFile(file, []byte("www.example.org 192.0.2.1 drain\napi.example.org 192.0.2.2 down\napi.exmaple.org 192.0.2.2 down\n"), 0o600)
	select {
	case <-applied:
	case <-time.After(5 * time.Second):
		t.Fatal("The changed overrides file was not applied")
	}
	time.Sleep(50 * time.Millisecond) // more polls of the same contents warn no more
	cancel()
	<-done
	want := file + ":3 - overrides rule for pool 'api.exmaple.org' matches no pool of this server block"
	if got := logged.String(); strings.Count(got, want) != 1 || strings.Count(got, "matches no pool") != 1 {
		t.Errorf("Expected one warning %q, got %q", want, got)
	}
}

// withHostname makes name (or err) the host name that the fleet member
// defaults to, until the test ends.
func withHostname(t *testing.T, name string, err error) {
	old := hostname
	hostname = func() (string, error) { return name, err }
	t.Cleanup(func() { hostname = old })
}

// fleetPool wraps a fleet stanza into a failover block with a valid pool.
func fleetPool(stanza string) string {
	return "failover example.org {\n\t\t" + stanza + okPool + "\n\t}"
}

func TestParseFleetDefaults(t *testing.T) {
	withHostname(t, "dns-7.example.org", nil)
	f, err := parse(caddy.NewTestController("dns", fleetPool("fleet etcd")))
	if err != nil {
		t.Fatalf("Expected no error, got %v", err)
	}
	want := fleet.Config{Endpoints: []string{"http://localhost:2379"}, Prefix: "/failover", Member: "dns-7.example.org",
		Probers: 2, Quorum: fleet.Majority, Lease: 10 * time.Second}
	if got := f.fleet; got == nil || !reflect.DeepEqual(*got, want) {
		t.Errorf("Fleet defaults:\n got %+v\nwant %+v", got, want)
	}
	f, err = parse(caddy.NewTestController("dns", fleetPool("fleet etcd http://192.0.2.10:2379 {}")))
	if err != nil {
		t.Fatalf("An empty block '{}': expected no error, got %v", err)
	}
	if want.Endpoints = []string{"http://192.0.2.10:2379"}; !reflect.DeepEqual(*f.fleet, want) {
		t.Errorf("An empty block '{}': want the defaults, got %+v", *f.fleet)
	}
	f, err = parse(caddy.NewTestController("dns", "failover example.org {"+okPool+"\n}"))
	if err != nil || f.fleet != nil {
		t.Errorf("Without a fleet line, want no fleet configuration, got %+v, %v", f.fleet, err)
	}
}

func TestParseFleetValid(t *testing.T) {
	withHostname(t, "not a usable name", nil) // member is set: the host name is not needed
	c := caddy.NewTestController("dns", fleetPool(`fleet etcd http://192.0.2.10:2379 http://[2001:db8::10]:2379 {
			prefix /dns/failover
			member dns_1.eu-west
			probers 3
			quorum 2
			lease 3s
			credentials fleet s3cret
		}`))
	f, err := parse(c)
	if err != nil {
		t.Fatalf("Expected no error, got %v", err)
	}
	want := fleet.Config{Endpoints: []string{"http://192.0.2.10:2379", "http://[2001:db8::10]:2379"}, Prefix: "/dns/failover",
		Member: "dns_1.eu-west", Probers: 3, Quorum: 2, Lease: 3 * time.Second, Username: "fleet", Password: "s3cret"}
	if !reflect.DeepEqual(*f.fleet, want) {
		t.Errorf("Fleet:\n got %+v\nwant %+v", *f.fleet, want)
	}
	f, err = parse(caddy.NewTestController("dns", fleetPool(`fleet etcd https://etcd.example.org:2379 {
			member dns-1
			quorum majority
			probers 16
		}`)))
	if err != nil {
		t.Fatalf("Expected no error, got %v", err)
	}
	if cfg := f.fleet; cfg.Quorum != fleet.Majority || cfg.Probers != 16 {
		t.Errorf("quorum majority, probers 16: got %d, %d", cfg.Quorum, cfg.Probers)
	}
	// https without tls: the system's roots verify etcd, and no client certificate is sent.
	if tc := f.fleet.TLS; tc == nil || tc.InsecureSkipVerify || tc.RootCAs != nil || len(tc.Certificates) != 0 || f.fleet.TLSFiles != "" {
		t.Errorf("https without tls: want a verifying TLS configuration with the system roots, got %+v (files %q)", tc, f.fleet.TLSFiles)
	}
}

// TestParseFleetTLS: tls loads the client pair and the CA, relative to
// the root directory, and verifies etcd.
func TestParseFleetTLS(t *testing.T) {
	withHostname(t, "dns-1", nil)
	ca := testpki.NewCA(t)
	certFile, keyFile := testpki.Files(t, ca.Server(t, "dns-1"))
	dir := t.TempDir()
	for name, from := range map[string]string{"client.pem": certFile, "client-key.pem": keyFile, "ca.pem": ca.File} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := caddy.NewTestController("dns", fleetPool(`fleet etcd https://192.0.2.10:2379 https://192.0.2.11:2379 {
			tls client.pem client-key.pem ca.pem
		}`))
	dnsserver.GetConfig(c).Root = dir
	f, err := parse(c)
	if err != nil {
		t.Fatalf("Expected no error, got %v", err)
	}
	tc := f.fleet.TLS
	if tc == nil || len(tc.Certificates) != 1 || tc.RootCAs == nil || tc.InsecureSkipVerify {
		t.Fatalf("Want the client certificate and the CA, verifying etcd, got %+v", tc)
	}
	if _, err := ca.Cert.Verify(x509.VerifyOptions{Roots: tc.RootCAs}); err != nil {
		t.Errorf("The CA file is not among the roots: %v", err)
	}
	want := filepath.Join(dir, "client.pem") + " " + filepath.Join(dir, "client-key.pem") + " " + filepath.Join(dir, "ca.pem") + " "
	if !strings.HasPrefix(f.fleet.TLSFiles, want) {
		t.Errorf("TLSFiles %q, want the files %q and a digest", f.fleet.TLSFiles, want)
	}
	// A certificate renewed under the same names is another configuration.
	before := f.fleet.TLSFiles
	renewed := ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(48*time.Hour), x509.ExtKeyUsageClientAuth, "renewed")
	certFile, keyFile = testpki.Files(t, renewed)
	for from, to := range map[string]string{certFile: "client.pem", keyFile: "client-key.pem"} {
		data, _ := os.ReadFile(from)
		os.WriteFile(filepath.Join(dir, to), data, 0o600)
	}
	c = caddy.NewTestController("dns", fleetPool(`fleet etcd https://192.0.2.10:2379 {
			tls client.pem client-key.pem ca.pem
		}`))
	dnsserver.GetConfig(c).Root = dir
	if f, err = parse(c); err != nil || f.fleet.TLSFiles == before {
		t.Errorf("A renewed certificate under the same names: %v, TLSFiles unchanged %v", err, f == nil || f.fleet.TLSFiles == before)
	}

	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("not pem"), 0o600)
	c = caddy.NewTestController("dns", fleetPool(`fleet etcd https://192.0.2.10:2379 {
			tls client.pem client-key.pem not.pem
		}`))
	dnsserver.GetConfig(c).Root = dir
	want = "Testfile:3 - Error during parsing: fleet tls CA file 'not.pem' holds no PEM certificate: give a file with one or more '-----BEGIN CERTIFICATE-----' blocks"
	if _, err := parse(c); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Expected %q, got %v", want, err)
	}
	c = caddy.NewTestController("dns", fleetPool(`fleet etcd https://192.0.2.10:2379 {
			tls client.pem ca.pem ca.pem
		}`))
	dnsserver.GetConfig(c).Root = dir
	want = "Testfile:3 - Error during parsing: fleet tls: tls: "
	if _, err := parse(c); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("A CA in place of the key: expected %q, got %v", want, err)
	}
}

// parseCorefile parses a whole Corefile as CoreDNS does (caddyfile.Parse,
// which replaces {$VARIABLE}s, then the failover directive's tokens), not
// just the lexer's tokens as caddy.NewTestController does.
func parseCorefile(t *testing.T, corefile string) (*Failover, error) {
	t.Helper()
	blocks, err := caddyfile.Parse("Testfile", strings.NewReader(corefile), []string{"failover"})
	if err != nil || len(blocks) != 1 {
		t.Fatalf("Corefile: %d server blocks, %v", len(blocks), err)
	}
	c := caddy.NewTestController("dns", "")
	c.Dispenser = caddyfile.NewDispenserTokens("Testfile", blocks[0].Tokens["failover"])
	c.ServerBlockKeys = blocks[0].Keys
	return parse(c)
}

const fleetFromEnvironment = `example.org {
	failover {
		fleet etcd https://192.0.2.10:2379 {
			member dns-1
			credentials fleet {$FLEET_PASSWORD}
		}
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
	}
}`

// TestParseFleetCredentialsFromEnvironment: the Corefile's reader replaces
// {$VARIABLE} by the variable's value before failover sees it; an unset
// variable leaves an empty password, which is refused without showing it.
func TestParseFleetCredentialsFromEnvironment(t *testing.T) {
	const secret = "env-secret-5c1d"
	t.Setenv("FLEET_PASSWORD", secret)
	f, err := parseCorefile(t, fleetFromEnvironment)
	if err != nil {
		t.Fatalf("Expected no error, got %v", err)
	}
	if f.fleet.Username != "fleet" || f.fleet.Password != secret {
		t.Errorf("Credentials %q %q, want fleet and the variable's value", f.fleet.Username, f.fleet.Password)
	}
	os.Unsetenv("FLEET_PASSWORD") // t.Setenv restores it at the end
	_, err = parseCorefile(t, fleetFromEnvironment)
	want := "Testfile:5 - Error during parsing: credentials of user 'fleet' has an empty password: when it is a {$VARIABLE}, set that environment variable for CoreDNS"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Expected %q, got %v", want, err)
	}
}

// TestParseFleetHidesPassword: no error or warning shows a password, be it
// in credentials or in an endpoint URL.
func TestParseFleetHidesPassword(t *testing.T) {
	withHostname(t, "dns-1", nil)
	logged := captureLog(t)
	const pw = "pw-7f3a9c"
	stanzas := []string{
		"fleet etcd http://fleet:" + pw + "@192.0.2.10:2379",
		"fleet etcd http://fleet:" + pw + "@192.0.2.10:port",
		"fleet etcd http://192.0.2.10:2379 http://fleet:" + pw + "@192.0.2.10:2379",
		"fleet etcd http://fleet:" + pw + "@192.0.2.10:2379 https://192.0.2.11:2379",
		"fleet etcd {\n credentials " + pw + "\n }",
		"fleet etcd {\n credentials fleet " + pw + " more\n }",
		"fleet etcd {\n credentials \"\" " + pw + "\n }",
		"fleet etcd {\n credentials fleet " + pw + "\n credentials fleet " + pw + "\n }",
		"fleet etcd {\n credentials fleet " + pw + "\n quorum 3\n }",
		"fleet etcd {\n credentials fleet " + pw + "\n tls a b c\n }",
		"fleet etcd http://192.0.2.10:2379 {\n credentials fleet " + pw + "\n }", // the last loads, with a warning
	}
	for i, stanza := range stanzas {
		_, err := parse(caddy.NewTestController("dns", fleetPool(stanza)))
		if (err == nil) != (i == len(stanzas)-1) {
			t.Errorf("%s: unexpected result %v", stanza, err)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("%s: the error shows the password: %v", stanza, err)
		}
	}
	out := logged.String()
	if strings.Contains(out, pw) {
		t.Errorf("The log shows the password: %s", out)
	}
	if want := "Testfile:3 - fleet credentials of user 'fleet' go to etcd unencrypted over http: write the endpoints as https:// URLs"; strings.Count(out, "unencrypted") != 1 || !strings.Contains(out, want) {
		t.Errorf("Want one warning %q, logged:\n%s", want, out)
	}
}

// TestParseFleetPlainCredentialsToLoopback: credentials over http to an
// etcd on this host are not warned about.
func TestParseFleetPlainCredentialsToLoopback(t *testing.T) {
	withHostname(t, "dns-1", nil)
	logged := captureLog(t)
	for _, endpoints := range []string{"", "http://127.0.0.1:2379", "http://[::1]:2379 http://localhost:2379"} {
		if _, err := parse(caddy.NewTestController("dns", fleetPool("fleet etcd "+endpoints+" {\n credentials fleet s3cret\n }"))); err != nil {
			t.Fatalf("Expected no error, got %v", err)
		}
	}
	if out := logged.String(); out != "" {
		t.Errorf("Want no warning, logged:\n%s", out)
	}
}

// TestParseFleetMemberFromHostname: the host name, the default member, must
// be usable as one.
func TestParseFleetMemberFromHostname(t *testing.T) {
	withHostname(t, "web server", nil)
	_, err := parse(caddy.NewTestController("dns", fleetPool("fleet etcd")))
	want := "Testfile:2 - Error during parsing: fleet member defaults to the host name 'web server', which is not usable in an etcd key: set 'member NAME' in the fleet block, with letters, digits, '.', '-' and '_', at most 63 characters"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Expected %q, got %v", want, err)
	}
	withHostname(t, strings.Repeat("a", 64), nil)
	if _, err := parse(caddy.NewTestController("dns", fleetPool("fleet etcd"))); err == nil || !strings.Contains(err.Error(), "fleet member defaults to the host name 'aaaa") {
		t.Errorf("A 64-character host name: expected an error, got %v", err)
	}
	withHostname(t, strings.Repeat("a", 63), nil)
	if _, err := parse(caddy.NewTestController("dns", fleetPool("fleet etcd"))); err != nil {
		t.Errorf("A 63-character host name: expected no error, got %v", err)
	}
	withHostname(t, "", errors.New("uname failed"))
	_, err = parse(caddy.NewTestController("dns", fleetPool("fleet etcd")))
	want = "Testfile:2 - Error during parsing: fleet member defaults to the host name, which cannot be read (uname failed): set 'member NAME' in the fleet block"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Expected %q, got %v", want, err)
	}
}

// fleetErrors: mistakes in the fleet line and block.
var fleetErrors = []parseErrorCase{
	{"no store", fleetPool("fleet"),
		"Testfile:2 - Error during parsing: fleet names no store: write 'fleet etcd ENDPOINT...' with each ENDPOINT an http:// or https:// URL of an etcd member, e.g. 'fleet etcd https://192.0.2.10:2379'"},
	{"misspelt store", fleetPool("fleet etc http://192.0.2.10:2379"),
		"Testfile:2 - Error during parsing: fleet store 'etc' is not supported (did you mean 'etcd'?): etcd is the only one; write 'fleet etcd ENDPOINT...'"},
	{"other store", fleetPool("fleet consul http://192.0.2.10:8500"),
		"Testfile:2 - Error during parsing: fleet store 'consul' is not supported: etcd is the only one; write 'fleet etcd ENDPOINT...'"},
	{"endpoint without store", fleetPool("fleet https://192.0.2.10:2379"),
		"Testfile:2 - Error during parsing: fleet names no store before the endpoint 'https://192.0.2.10:2379': write 'fleet etcd https://192.0.2.10:2379'"},
	{"endpoint without scheme", fleetPool("fleet etcd 192.0.2.10:2379"),
		"Testfile:2 - Error during parsing: fleet endpoint '192.0.2.10:2379' is not a URL: write 'fleet etcd ENDPOINT...'"},
	{"host name endpoint without scheme", fleetPool("fleet etcd localhost:2379"),
		"Testfile:2 - Error during parsing: fleet endpoint 'localhost:2379' is not a URL: write 'fleet etcd ENDPOINT...'"},
	{"other scheme", fleetPool("fleet etcd grpc://192.0.2.10:2379"),
		"Testfile:2 - Error during parsing: fleet endpoint 'grpc://192.0.2.10:2379' does not start with http:// or https://: write 'fleet etcd ENDPOINT...'"},
	{"no port", fleetPool("fleet etcd http://192.0.2.10"),
		"Testfile:2 - Error during parsing: fleet endpoint 'http://192.0.2.10' is not host:port after its scheme (etcd's client port is usually 2379): write 'fleet etcd ENDPOINT...'"},
	{"port 0", fleetPool("fleet etcd http://192.0.2.10:0"),
		"Testfile:2 - Error during parsing: fleet endpoint 'http://192.0.2.10:0' is not host:port after its scheme"},
	{"port too high", fleetPool("fleet etcd http://192.0.2.10:65536"),
		"Testfile:2 - Error during parsing: fleet endpoint 'http://192.0.2.10:65536' is not host:port after its scheme"},
	{"no host", fleetPool("fleet etcd http://:2379"),
		"Testfile:2 - Error during parsing: fleet endpoint 'http://:2379' is not host:port after its scheme"},
	{"path", fleetPool("fleet etcd http://192.0.2.10:2379/v3"),
		"Testfile:2 - Error during parsing: fleet endpoint 'http://192.0.2.10:2379/v3' has a path, query or fragment: etcd takes scheme://host:port only"},
	{"credentials in the endpoint", fleetPool("fleet etcd http://root:s3cret@192.0.2.10:2379"),
		"Testfile:2 - Error during parsing: fleet endpoint 'http://xxxxx@192.0.2.10:2379' holds credentials: put them in the block's 'credentials USERNAME PASSWORD' line"},
	{"endpoint twice", fleetPool("fleet etcd http://192.0.2.10:2379 http://192.0.2.11:2379 http://192.0.2.10:2379"),
		"Testfile:2 - Error during parsing: fleet endpoint 'http://192.0.2.10:2379' is listed twice: remove one"},
	{"http and https", fleetPool("fleet etcd https://192.0.2.10:2379 http://192.0.2.11:2379"),
		"Testfile:2 - Error during parsing: fleet endpoints mix http and https ('https://192.0.2.10:2379' and 'http://192.0.2.11:2379'): write them all as https:// URLs (or all as http://)"},
	{"fleet twice", fleetPool("fleet etcd http://192.0.2.10:2379 {\n member dns-1\n }\n fleet etcd http://192.0.2.11:2379"),
		"Testfile:5 - Error during parsing: fleet is given twice in this failover block: keep one, with every etcd endpoint on its line"},
	{"unknown property", fleetPool("fleet etcd {\n prefx /dns\n }"),
		"Testfile:3 - Error during parsing: unknown fleet property 'prefx' (did you mean 'prefix'?): write 'prefix KEY', 'member NAME', 'probers K', 'quorum N|majority', 'lease DURATION', 'credentials USERNAME PASSWORD', 'tls CERT KEY CACERT' or 'secret SECRET'"},
	{"unknown property, nothing near", fleetPool("fleet etcd {\n endpoint http://192.0.2.10:2379\n }"),
		"Testfile:3 - Error during parsing: unknown fleet property 'endpoint': write 'prefix KEY', 'member NAME'"},
	{"property twice", fleetPool("fleet etcd {\n probers 3\n probers 4\n }"),
		"Testfile:4 - Error during parsing: 'probers' is given twice in this fleet block (first at line 3): keep one"},
	{"prefix without key", fleetPool("fleet etcd {\n prefix\n }"),
		"Testfile:3 - Error during parsing: prefix takes one etcd key: write e.g. 'prefix /failover'"},
	{"prefix without slash", fleetPool("fleet etcd {\n prefix dns/failover\n }"),
		"Testfile:3 - Error during parsing: prefix 'dns/failover' does not start with '/': write 'prefix /dns/failover'"},
	{"prefix ends with slash", fleetPool("fleet etcd {\n prefix /dns/\n }"),
		"Testfile:3 - Error during parsing: prefix '/dns/' ends with '/': write 'prefix /dns' (keys go under PREFIX/v2/)"},
	{"prefix is the root", fleetPool("fleet etcd {\n prefix /\n }"),
		"Testfile:3 - Error during parsing: prefix '/' ends with '/': write 'prefix /failover'"},
	{"prefix with a space", fleetPool("fleet etcd {\n prefix \"/dns failover\"\n }"),
		"Testfile:3 - Error during parsing: prefix \"/dns failover\" holds a space or control character: write a key without, e.g. 'prefix /failover'"},
	{"member without name", fleetPool("fleet etcd {\n member\n }"),
		"Testfile:3 - Error during parsing: member takes one name, unique to this replica: write e.g. 'member dns-1'"},
	{"member with a bad character", fleetPool("fleet etcd {\n member dns/1\n }"),
		"Testfile:3 - Error during parsing: member 'dns/1' is not usable in an etcd key: write a name of letters, digits, '.', '-' and '_', at most 63 characters, e.g. 'member dns-1'"},
	{"member too long", fleetPool("fleet etcd {\n member " + strings.Repeat("d", 64) + "\n }"),
		"Testfile:3 - Error during parsing: member 'dddd"},
	{"probers 0", fleetPool("fleet etcd {\n probers 0\n }"),
		"Testfile:3 - Error during parsing: probers '0' is not a whole number from 1 to 16"},
	{"probers 17", fleetPool("fleet etcd {\n probers 17\n }"),
		"Testfile:3 - Error during parsing: probers '17' is not a whole number from 1 to 16"},
	{"probers without number", fleetPool("fleet etcd {\n probers\n }"),
		"Testfile:3 - Error during parsing: probers takes one number: write e.g. 'probers 2'"},
	{"quorum without value", fleetPool("fleet etcd {\n quorum\n }"),
		"Testfile:3 - Error during parsing: quorum takes a number or majority: write 'quorum majority' (more than half of a target's probers) or a number of verdicts up to 'probers', e.g. 'quorum 2'"},
	{"quorum misspelt", fleetPool("fleet etcd {\n quorum majorty\n }"),
		"Testfile:3 - Error during parsing: quorum 'majorty' is neither majority nor a whole number from 1 to 16 (did you mean 'majority'?): write 'quorum majority'"},
	{"quorum 0", fleetPool("fleet etcd {\n quorum 0\n }"),
		"Testfile:3 - Error during parsing: quorum '0' is neither majority nor a whole number from 1 to 16: write 'quorum majority'"},
	{"quorum above probers", fleetPool("fleet etcd {\n quorum 3\n probers 2\n member dns-1\n }"),
		"Testfile:3 - Error during parsing: quorum 3 is more than the 2 probers of each target: it could never be reached; write 'quorum majority', a number up to 2, or raise 'probers'"},
	{"quorum above default probers", fleetPool("fleet etcd {\n quorum 3\n }"),
		"Testfile:3 - Error during parsing: quorum 3 is more than the 2 probers of each target"},
	{"lease too short", fleetPool("fleet etcd {\n lease 1s\n }"),
		"Testfile:3 - Error during parsing: lease 1s is too short: write at least 2s"},
	{"lease not a duration", fleetPool("fleet etcd {\n lease 10\n }"),
		"Testfile:3 - Error during parsing: lease '10' is not a duration: write a number with a unit, e.g. 5s or 500ms"},
	{"lease in parts of seconds", fleetPool("fleet etcd {\n lease 2500ms\n }"),
		"Testfile:3 - Error during parsing: lease 2.5s is not a whole number of seconds, which etcd's leases count in: write e.g. 'lease 3s'"},
	{"credentials without password", fleetPool("fleet etcd {\n credentials fleet\n }"),
		"Testfile:3 - Error during parsing: credentials takes two words, a user name and a password (1 given): write 'credentials USERNAME PASSWORD', e.g. 'credentials fleet {$FLEET_PASSWORD}' to take the password from the environment"},
	{"credentials with three words", fleetPool("fleet etcd {\n credentials fleet two words\n }"),
		"Testfile:3 - Error during parsing: credentials takes two words, a user name and a password (3 given)"},
	{"credentials with an empty user name", fleetPool("fleet etcd {\n credentials \"\" s3cret\n }"),
		"Testfile:3 - Error during parsing: credentials has an empty user name: write one, and when it is a {$VARIABLE}, set that environment variable for CoreDNS"},
	{"credentials with an empty password", fleetPool("fleet etcd {\n credentials fleet \"\"\n }"),
		"Testfile:3 - Error during parsing: credentials of user 'fleet' has an empty password: when it is a {$VARIABLE}, set that environment variable for CoreDNS"},
	{"tls with two files", fleetPool("fleet etcd https://192.0.2.10:2379 {\n tls cert.pem key.pem\n }"),
		"Testfile:3 - Error during parsing: tls takes a client certificate, its key and the CA that verifies etcd: write 'tls CERT KEY CACERT' (PEM files)"},
	{"tls with a missing file", fleetPool("fleet etcd https://192.0.2.10:2379 {\n tls /nonexistent/cert.pem /nonexistent/key.pem /nonexistent/ca.pem\n }"),
		"Testfile:3 - Error during parsing: fleet tls: open /nonexistent/cert.pem: no such file or directory"},
	{"tls with http endpoints", fleetPool("fleet etcd http://192.0.2.10:2379 {\n member dns-1\n tls cert.pem key.pem ca.pem\n }"),
		"Testfile:4 - Error during parsing: fleet tls is for https endpoints, and 'http://192.0.2.10:2379' is http: write the endpoints on the fleet line as https:// URLs, e.g. 'fleet etcd https://192.0.2.10:2379 {'"},
	{"tls with the default endpoint", fleetPool("fleet etcd {\n tls cert.pem key.pem ca.pem\n }"),
		"Testfile:3 - Error during parsing: fleet tls is for https endpoints, and 'http://localhost:2379' is http"},
	{"misspelt in the failover block", fleetPool("flet etcd"),
		"Testfile:2 - Error during parsing: unknown property 'flet' (did you mean 'fleet'?)"},
}

func TestParseErrorsFleet(t *testing.T) {
	withHostname(t, "dns-1", nil)
	checkParseErrors(t, fleetErrors)
}
