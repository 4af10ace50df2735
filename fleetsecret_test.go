package failover

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/coredns/caddy"
)

const fleetSecret = "9f1c2e7a4b6d8e0f1a3c5e7b"

// TestParseFleetSecret: the secret comes from the line, from the
// environment or from a file, and is the fleet's.
func TestParseFleetSecret(t *testing.T) {
	withHostname(t, "dns-1", nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "fleet-secret")
	if err := os.WriteFile(file, []byte(fleetSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLEET_SECRET", fleetSecret)
	for _, line := range []string{"secret " + fleetSecret, "secret {$FLEET_SECRET}", "secret file " + file} {
		f, err := parseCorefile(t, "example.org {\n failover {\n fleet etcd {\n "+line+"\n }\n"+okPool+"\n }\n}")
		if err != nil {
			t.Fatalf("%s: expected no error, got %v", line, err)
		}
		if f.fleet.Secret != fleetSecret {
			t.Errorf("%s: secret %q, want %q", line, f.fleet.Secret, fleetSecret)
		}
	}
}

// TestParseFleetSecretInvalid: each mistake is refused at its line, saying
// what to write, and no error shows the secret.
func TestParseFleetSecretInvalid(t *testing.T) {
	withHostname(t, "dns-1", nil)
	dir := t.TempDir()
	twoLines := filepath.Join(dir, "two-lines")
	os.WriteFile(twoLines, []byte(fleetSecret+"\n"+fleetSecret+"\n"), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, []byte(strings.Repeat(fleetSecret, 500)), 0o600)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	short := fleetSecret[:15]
	for line, want := range map[string]string{
		"secret " + short:              "Testfile:3 - Error during parsing: fleet secret has 15 characters, fewer than 16: write 'secret {$FLEET_SECRET}'",
		"secret \"\"":                  "fleet secret is empty (when it is a {$VARIABLE}, set that variable for CoreDNS)",
		"secret":                       "secret takes one word, or 'file' and a file name (0 words given)",
		"secret a " + fleetSecret:      "secret takes one word, or 'file' and a file name (2 words given)",
		"secret file " + twoLines:      "fleet secret file " + twoLines + " holds more than one line: put the secret alone on its first line",
		"secret file " + big:           "holds 12000 bytes, more than the 4096 allowed",
		"secret file " + fifo:          "is a named pipe (FIFO), not a regular file",
		"secret file " + dir + "/none": "no such file or directory",
		"secret " + fleetSecret + "\nsecret " + fleetSecret: "Testfile:4 - Error during parsing: 'secret' is given twice in this fleet block (first at line 3): keep one",
		"secrets " + fleetSecret:                            "unknown fleet property 'secrets' (did you mean 'secret'?)",
	} {
		_, err := parse(caddy.NewTestController("dns", fleetPool("fleet etcd {\n "+line+"\n }")))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: expected an error with %q, got %v", line, want, err)
			continue
		}
		if strings.Contains(err.Error(), short) {
			t.Errorf("%q: the error shows the secret: %v", line, err)
		}
	}
}

// TestWarnUnkeyedFleet: a fleet without a secret is warned about, at its
// line, when a check may carry a token; not otherwise.
func TestWarnUnkeyedFleet(t *testing.T) {
	withHostname(t, "dns-1", nil)
	const tokenPool = `
		pool api.example.org {
			target 192.0.2.20
			check https://api.example.org/health {
				header X-Token 4821
			}
		}`
	for _, tc := range []struct{ stanza, pools, want string }{
		{"fleet etcd", tokenPool, "Testfile:2 - fleet has no 'secret', and check 'https://api.example.org/health' of pool api.example.org. has a header, a text to send or a query"},
		{"fleet etcd", `
		pool api.example.org {
			target 192.0.2.20
			check http://api.example.org/health?token=4821
		}`, "check 'http://api.example.org/health' of pool api.example.org. has a header"},
		{"fleet etcd {\n secret " + fleetSecret + "\n }", tokenPool, ""},
		{"fleet etcd", "", ""},
	} {
		logged := captureLog(t)
		if _, err := parse(caddy.NewTestController("dns", "failover example.org {\n\t\t"+tc.stanza+tc.pools+okPool+"\n\t}")); err != nil {
			t.Fatalf("%s: expected no error, got %v", tc.stanza, err)
		}
		out := logged.String()
		if tc.want == "" && out != "" || tc.want != "" && (!strings.Contains(out, tc.want) || strings.Count(out, "fleet has no 'secret'") != 1) {
			t.Errorf("%s%s: want warning %q, logged:\n%s", tc.stanza, tc.pools, tc.want, out)
		}
		if strings.Contains(out, "4821") {
			t.Errorf("The warning shows the token: %s", out)
		}
	}
}
