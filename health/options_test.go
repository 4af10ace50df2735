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
		{"icmp://www.example.org", "cuont 3", "check option 'cuont' does not apply to icmp checks: did you mean 'count'? (icmp checks take count, max_loss, max_jitter, max_latency)"},
		{"icmp://www.example.org", "send PING", "check option 'send' does not apply to icmp checks, only to tcp checks: write one of count, max_loss, max_jitter, max_latency"},
		{"tcp://www.example.org:25", "count 3", "check option 'count' does not apply to tcp checks, only to icmp checks: write one of send, expect, max_latency"},
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

// TestDNSQueryName: 'query .' asks for the root, as CoreDNS's forward plugin
// does, whatever the URL's host; a check with no name at all is refused
// with a message that says so.
func TestDNSQueryName(t *testing.T) {
	for _, tc := range []struct {
		url   string
		opts  []Option
		qname string // "" for an error
		err   string
		line  int
	}{
		{"dns://127.0.0.1:53", opts("query .", "type NS"), ".", "", 0},
		{"dns://:53", opts("query .", "type NS"), ".", "", 0},
		{"dns://:53", opts("query www.example.org"), "www.example.org.", "", 0},
		{"dns://www.example.org", nil, "www.example.org.", "", 0},
		{"dns://:53", opts("type NS"), "", "dns check 'dns://:53' has no name to query: write dns://NAME[:PORT], or add 'query NAME' to its block ('query .' for the root)", 0},
		{"dns://", nil, "", "has no name to query", 0},
		{"dns://:53", []Option{{Name: "query", Args: []string{""}, Line: 4}}, "", "query takes one name: write e.g. 'query www.example.org', or 'query .' for the root", 4},
		{"dns://:53", []Option{{Name: "query", Line: 4}}, "", "query takes one name", 4},
		{"dns://:53", opts("query bad..name"), "", "query 'bad..name' is not a domain name", 1},
	} {
		c, err := NewCheck(CheckConfig{URL: tc.url, Options: tc.opts, Timeout: time.Second})
		switch {
		case tc.qname != "" && err != nil:
			t.Errorf("%s %v: got error %v, want a check asking for %q", tc.url, tc.opts, err, tc.qname)
		case tc.qname != "":
			if got := c.prober.(*dnsProber).qname; got != tc.qname {
				t.Errorf("%s %v: asks for %q, want %q", tc.url, tc.opts, got, tc.qname)
			}
		case err == nil || !strings.Contains(err.Error(), tc.err) || ErrorLine(err) != tc.line:
			t.Errorf("%s %v: got error %v (line %d), want one containing %q at line %d", tc.url, tc.opts, err, ErrorLine(err), tc.err, tc.line)
		}
	}
}

// TestHTTPHeadWithBody: a HEAD response has no body, so a body check
// beside 'method HEAD' could never pass.
func TestHTTPHeadWithBody(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		want string // "" for no error
		line int    // the method's
	}{
		{[]string{"method HEAD", "body_contains ok"}, "method HEAD gets no body, so body_contains (line 2) could never match: drop 'method HEAD' (GET is the default) or body_contains", 1},
		{[]string{"body_regex up", "method head"}, "method HEAD gets no body, so body_regex (line 1) could never match", 2},
		{[]string{"method HEAD"}, "", 0},
		{[]string{"method GET", "body_contains ok"}, "", 0},
		{[]string{"method POST", "body_regex up"}, "", 0},
	} {
		_, err := NewCheck(CheckConfig{URL: "http://www.example.org/health", Options: opts(tc.opts...), Timeout: time.Second})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: got error %v, want none", tc.opts, err)
		case tc.want == "":
		case err == nil || !strings.HasPrefix(err.Error(), tc.want):
			t.Errorf("%v: got error %v, want one starting %q", tc.opts, err, tc.want)
		case ErrorLine(err) != tc.line:
			t.Errorf("%v: error at line %d, want %d (the method's)", tc.opts, ErrorLine(err), tc.line)
		}
	}
}
