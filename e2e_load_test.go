package failover_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/coredns/test"
	"github.com/failover-dns/failover"
)

// geoIPDatabase is the GeoLite2 City test database that CoreDNS's geoip
// plugin tests with, from the module cache.
func geoIPDatabase(t *testing.T) string {
	t.Helper()
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/coredns/coredns").Output()
	if err != nil {
		t.Fatalf("Finding CoreDNS's module: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(dir)), "plugin", "geoip", "testdata", "GeoLite2-City.mmdb")
}

// TestRegionWithoutGeoIPWarns: a region that matches country: or
// continent: codes needs the geoip plugin (and metadata) in its server
// block to look clients up; without them those matches never match. The
// load warns once, at the region's line, naming what is missing; with
// both plugins, or with networks only, it does not.
func TestRegionWithoutGeoIPWarns(t *testing.T) {
	_, port := startBackends(t, nil, "127.0.0.1")
	pool := func(region string) string {
		return `
	failover {
		pool www.example.org {
			` + region + `
			target 127.0.0.1 region eu
			check tcp://www.example.org:` + port + `
		}
	}
}`
	}
	for _, tc := range []struct {
		name, corefile, want string
	}{
		{"no geoip", "example.org:0 {" + pool("region eu 198.51.100.0/24 continent:EU"),
			"Corefile:4 - region eu matches country:/continent: codes, but this server block has no geoip and no metadata plugin to look clients up: those matches never match; add 'metadata' and 'geoip DBFILE' to the server block"},
		{"geoip without metadata", "example.org:0 {\n\tgeoip " + geoIPDatabase(t) + pool("region eu country:FR"),
			"Corefile:5 - region eu matches country:/continent: codes, but this server block has no metadata plugin to look clients up"},
		{"geoip and metadata", "example.org:0 {\n\tmetadata\n\tgeoip " + geoIPDatabase(t) + pool("region eu country:FR"), ""},
		{"networks only", "example.org:0 {" + pool("region eu 198.51.100.0/24"), ""},
	} {
		logs := failover.CaptureLog(t)
		s := startCoreDNS(t, tc.corefile)
		out := logs.String()
		s.stop()
		if tc.want == "" && strings.Contains(out, "country:/continent:") || tc.want != "" && (strings.Count(out, "country:/continent:") != 1 || !strings.Contains(out, tc.want)) {
			t.Errorf("%s: want the warning %q, logged:\n%s", tc.name, tc.want, out)
		}
	}
}

// TestLoadRefusesWhatCannotWork: a Corefile that would load and then not
// work stops CoreDNS's start with an error at its line: failover zones
// outside the server block's (every query for them REFUSED), and a status
// port beyond 65535 (formerly a start-up failure without a line).
func TestLoadRefusesWhatCannotWork(t *testing.T) {
	pool := `
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
	}
}`
	for _, tc := range []struct {
		name, corefile, want string
	}{
		{"zone outside the server block", "example.net:0 {\n\tfailover example.org {" + pool,
			"Corefile:2 - Error during parsing: zone 'example.org.' on the failover line is not inside this server block's zones (example.net.)"},
		{"status port out of range", "example.org:0 {\n\tfailover {\n\t\tstatus 127.0.0.1:99999" + pool,
			"Corefile:3 - Error during parsing: status address '127.0.0.1:99999': port '99999' is not a number from 0 to 65535"},
	} {
		inst, _, _, err := test.CoreDNSServerAndPorts(tc.corefile)
		if inst != nil {
			(&coreDNS{inst: inst}).stop()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: CoreDNS started with error %v, want %q", tc.name, err, tc.want)
		}
	}
}
