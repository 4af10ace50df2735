package health

import (
	"strings"
	"testing"
	"time"
)

func TestUnknownOptionMessages(t *testing.T) {
	for _, tc := range []struct {
		url, option, want string
	}{
		{"http://www.example.org/", "bogus x",
			"check option 'bogus' does not apply to http checks: write one of method, header, status, body_contains, body_regex, follow_redirects, max_latency"},
		{"http://www.example.org/", "body_contain ok",
			"check option 'body_contain' does not apply to http checks: did you mean 'body_contains'? (http checks take method, header, status, body_contains, body_regex, follow_redirects, max_latency)"},
		{"tcp://www.example.org:25", "expcet 220",
			"check option 'expcet' does not apply to tcp checks: did you mean 'expect'? (tcp checks take send, expect, max_latency)"},
		{"http://www.example.org/", "ca ca.pem",
			"check option 'ca' does not apply to http checks, only to tls, https and grpcs checks: write one of method, header"},
		{"https://www.example.org/", "cert_min_days 7",
			"check option 'cert_min_days' does not apply to https checks, only to tls checks: write one of method, header, status, body_contains, body_regex, follow_redirects, ca, client_cert, server_name, insecure, tls_min, max_latency"},
		{"icmp://www.example.org", "count 3", "check option 'count' does not apply to icmp checks: their only option is max_latency"},
		{"dns://www.example.org", "service x", "check option 'service' does not apply to dns checks, only to grpc and grpcs checks: write one of query, type, transport, rcode, answer_contains, max_latency"},
	} {
		// A valid option first: the error must name the bad option's line.
		_, err := NewCheck(CheckConfig{URL: tc.url, Options: opts("max_latency 10ms", tc.option), Timeout: time.Second})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s with '%s': got error %v, want one starting %q", tc.url, tc.option, err, tc.want)
		}
		if line := ErrorLine(err); line != 2 {
			t.Errorf("%s with '%s': error at line %d, want 2", tc.url, tc.option, line)
		}
	}
}

// TestSchemeOptionsApply: every option the error messages list for a scheme
// is one its checks take (an error about its value is fine, "does not
// apply" is not), and every check takes max_latency.
func TestSchemeOptionsApply(t *testing.T) {
	if len(schemeOptions()) != len(checkForms) {
		t.Fatalf("Options found for %d schemes, want %d (one per check form)", len(schemeOptions()), len(checkForms))
	}
	for i, s := range schemeOptions() {
		if len(s.options) == 0 || s.options[len(s.options)-1] != "max_latency" {
			t.Errorf("%s checks take %v: want max_latency last", s.scheme, s.options)
		}
		for _, name := range s.options {
			_, err := NewCheck(CheckConfig{URL: sampleURL(checkForms[i]), Options: opts(name + " x"), Timeout: time.Second})
			if err != nil && (ErrorLine(err) != 1 || strings.Contains(err.Error(), "does not apply")) {
				t.Errorf("%s checks list option %s but refuse it: %v", s.scheme, name, err)
			}
		}
	}
}
