package failover

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/failover-dns/failover/notify"
)

func TestParseNotify(t *testing.T) {
	f, err := parse(caddy.NewTestController("dns", `failover example.org {
		notify https://hooks.example.org/failover
		notify http://192.0.2.5:8080/hook?key=secret {
			events target_down target_up
			header Authorization "Bearer s3cret"
			header X-Team dns
			timeout 2s
			format slack
			queue 50
		}`+okPool+`
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []notify.Config{
		{URL: "https://hooks.example.org/failover"},
		{URL: "http://192.0.2.5:8080/hook?key=secret", Events: []string{"target_down", "target_up"},
			Headers: []notify.Header{{Name: "Authorization", Value: "Bearer s3cret"}, {Name: "X-Team", Value: "dns"}},
			Timeout: 2 * time.Second, Format: "slack", Queue: 50},
	}
	if len(f.notify) != len(want) {
		t.Fatalf("Parsed %+v, want %+v", f.notify, want)
	}
	for i := range want {
		g, w := f.notify[i], want[i]
		if g.URL != w.URL || !slices.Equal(g.Events, w.Events) || !slices.Equal(g.Headers, w.Headers) ||
			g.Timeout != w.Timeout || g.Format != w.Format || g.Queue != w.Queue {
			t.Errorf("notify %d: %+v, want %+v", i, g, w)
		}
	}
}

var notifyErrors = []parseErrorCase{
	{"notify without URL", `failover example.org {
		notify
	}`, "Testfile:2 - Error during parsing: notify takes one URL: write 'notify URL' with an http:// or https:// URL"},
	{"notify with a bad scheme", `failover example.org {
		notify ftp://hooks.example.org/x
	}`, "Testfile:2 - Error during parsing: notify URL 'ftp://hooks.example.org/(path b3d1db31)' is not usable, its scheme is not http or https: write 'notify URL'"},
	{"notify without host", `failover example.org {
		notify https:///hook
	}`, "Testfile:2 - Error during parsing: notify URL '(invalid URL)' is not usable, it names no host"},
	{"notify twice", `failover example.org {
		notify https://hooks.example.org/x?token=1
		notify https://hooks.example.org/x?token=1
	}`, "Testfile:3 - Error during parsing: notify https://hooks.example.org/(path b3d1db31) is given twice in this failover block: keep one"},
	{"unknown notify property", `failover example.org {
		notify https://hooks.example.org/x {
			headers X-Team dns
		}
	}`, "Testfile:3 - Error during parsing: unknown notify property 'headers' (did you mean 'header'?): write 'events TYPE...', 'header NAME VALUE', 'timeout DURATION', 'format json|slack' or 'queue N'"},
	{"unknown event type", `failover example.org {
		notify https://hooks.example.org/x {
			events target_down target_dwon
		}
	}`, "Testfile:3 - Error during parsing: unknown event type 'target_dwon' (did you mean 'target_down'?): write event types from target_up, target_down,"},
	{"events without types", `failover example.org {
		notify https://hooks.example.org/x {
			events
		}
	}`, "Testfile:3 - Error during parsing: events takes one or more event types: write e.g. 'events target_down target_up'"},
	{"header without value", `failover example.org {
		notify https://hooks.example.org/x {
			header Authorization
		}
	}`, "Testfile:3 - Error during parsing: header takes a name and a value: write e.g. 'header Authorization \"Bearer TOKEN\"'"},
	{"bad header name", `failover example.org {
		notify https://hooks.example.org/x {
			header "X Team" dns
		}
	}`, "Testfile:3 - Error during parsing: header 'X Team' is not usable, its name is not a valid HTTP header name"},
	{"bad timeout", `failover example.org {
		notify https://hooks.example.org/x {
			timeout 5
		}
	}`, "Testfile:3 - Error during parsing: timeout '5' is not a duration"},
	{"short timeout", `failover example.org {
		notify https://hooks.example.org/x {
			timeout 1ms
		}
	}`, "Testfile:3 - Error during parsing: timeout 1ms is too short: write at least 100ms"},
	{"bad format", `failover example.org {
		notify https://hooks.example.org/x {
			format slak
		}
	}`, "Testfile:3 - Error during parsing: format takes json or slack, not 'slak': did you mean 'slack'?"},
	{"bad queue", `failover example.org {
		notify https://hooks.example.org/x {
			queue 0
		}
	}`, "Testfile:3 - Error during parsing: queue '0' is not a whole number from 1 to 1000000"},
	{"misspelt notify", `failover example.org {
		notfy https://hooks.example.org/x
	}`, "Testfile:2 - Error during parsing: unknown property 'notfy' (did you mean 'notify'?)"},
}

func TestParseErrorsNotify(t *testing.T) { checkParseErrors(t, notifyErrors) }

// Parse errors never repeat a notify URL's secrets or a header's value.
func TestParseErrorsNotifyKeepSecrets(t *testing.T) {
	for _, input := range []string{
		`failover example.org {
			notify ftp://user:pa55word@hooks.example.org/x?token=s3cret
		}`,
		`failover example.org {
			notify https://user:pa55word@hooks.example.org/x?token=s3cret {
				header X-Bad "s3cret
value"
			}
		}`,
		`failover example.org {
			notify https://hooks.example.org/x?token=s3cret
			notify https://hooks.example.org/x?token=s3cret
		}`,
	} {
		_, err := parse(caddy.NewTestController("dns", input))
		if err == nil {
			t.Fatalf("No error for %s", input)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "pa55word") {
			t.Errorf("The error shows a secret: %v", err)
		}
	}
}

// TestParseNotifyPlainCredentials: a webhook over http to another host
// with credentials (a user and password in the URL, a credential header, a
// token in the query) is warned about at its line, as fleet credentials
// over http are; the warning names where the credentials are, never their
// values. Over https, to this host, or without credentials: no warning.
func TestParseNotifyPlainCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, stanza, want string
	}{
		{"Authorization header", "notify http://hooks.example.org/x {\n header Authorization \"Bearer s3cret\"\n header X-Team dns\n }",
			"Testfile:2 - notify credentials (header Authorization) go to http://hooks.example.org/(path b3d1db31) unencrypted over http: write the URL as https://"},
		{"API key header and user", "notify http://u:s3cret@192.0.2.5:8080/hook {\n header X-Api-Key s3cret\n }",
			"Testfile:2 - notify credentials (the URL's user and password, header X-Api-Key) go to http://192.0.2.5:8080/(path 6fc2d051) unencrypted over http: write the URL as https://"},
		{"token in the query", "notify http://hooks.example.org/x?team=dns&token=s3cret",
			"Testfile:2 - notify credentials (the URL's query parameter token) go to http://hooks.example.org/(path b3d1db31) unencrypted over http: write the URL as https://"},
		{"over https", "notify https://hooks.example.org/x?token=s3cret {\n header Authorization s3cret\n }", ""},
		{"to this host", "notify http://127.0.0.1:9000/x {\n header Authorization s3cret\n }", ""},
		{"no credentials", "notify http://hooks.example.org/x?team=dns {\n header X-Team dns\n }", ""},
	} {
		logged := captureLog(t)
		if _, err := parse(caddy.NewTestController("dns", fleetPool(tc.stanza))); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		out := logged.String()
		if strings.Contains(out, "s3cret") {
			t.Errorf("%s: the log shows a secret: %s", tc.name, out)
		}
		if tc.want == "" && out != "" || tc.want != "" && (strings.Count(out, "unencrypted") != 1 || !strings.Contains(out, tc.want)) {
			t.Errorf("%s: want the warning %q, logged:\n%s", tc.name, tc.want, out)
		}
	}
}
