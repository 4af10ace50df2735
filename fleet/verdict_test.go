package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/health"
)

// testBounds are the bounds of a watched target with a 1 s timeout, now.
var testBounds = verdictBounds{now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), maxRTT: time.Second}

func TestVerdictRoundTrip(t *testing.T) {
	v := Verdict{State: health.Down, Since: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC), Reason: "refused",
		Check: "tcp://192.0.2.1:443", Detail: "connect: connection refused", RTT: 1500 * time.Microsecond}
	got, err := decodeVerdict([]byte(v.encode()), testBounds)
	if err != nil || got != v {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, v)
	}
}

// TestDecodeVerdictRejects: what a peer may not say is refused as a whole.
func TestDecodeVerdictRejects(t *testing.T) {
	for _, c := range []struct{ name, value string }{
		{"unknown state", `{"state":"sideways","since":"2026-11-22T08:00:00Z"}`},
		{"unknown reason", `{"state":"down","since":"2026-11-22T08:00:00Z","reason":"fake\n[ERROR]"}`},
		{"HTTP status out of range", `{"state":"down","since":"2026-11-22T08:00:00Z","reason":"status_999"}`},
		{"HTTP status not canonical", `{"state":"down","since":"2026-11-22T08:00:00Z","reason":"status_0503"}`},
		{"unknown field", `{"state":"up","since":"2026-11-22T08:00:00Z","weight":100}`},
		{"data after the object", `{"state":"up","since":"2026-11-22T08:00:00Z"} {}`},
		{"since year 1", `{"state":"down","since":"0001-01-01T00:00:00Z"}`},
		{"since missing", `{"state":"down"}`},
		{"since year 9999", `{"state":"down","since":"9999-12-31T23:59:59Z"}`},
		{"since two minutes ahead", `{"state":"up","since":"2026-11-22T09:02:00Z"}`},
		{"rtt 2^63-1", `{"state":"up","since":"2026-11-22T08:00:00Z","rtt_ns":9223372036854775807}`},
		{"rtt 2^63", `{"state":"up","since":"2026-11-22T08:00:00Z","rtt_ns":9223372036854775808}`},
		{"rtt negative", `{"state":"up","since":"2026-11-22T08:00:00Z","rtt_ns":-1}`},
		{"rtt over the timeout", `{"state":"up","since":"2026-11-22T08:00:00Z","rtt_ns":1000000001}`},
		{"too long", `{"state":"down","since":"2026-11-22T08:00:00Z","detail":"` + strings.Repeat("x", maxVerdictBytes) + `"}`},
		{"not JSON", `down`},
		{"empty", ``},
	} {
		if v, err := decodeVerdict([]byte(c.value), testBounds); err == nil {
			t.Errorf("%s: accepted as %+v", c.name, v)
		}
	}
}

// TestDecodeVerdictCleans: a detail and a check come out as a local
// probe's would: one printable line of at most health.MaxDetail bytes.
func TestDecodeVerdictCleans(t *testing.T) {
	long := strings.Repeat("y", 1000)
	value := `{"state":"down","since":"2026-11-22T08:00:00Z","reason":"status_503","check":"http://x/\r\n[ERROR] c","detail":"a\n[ERROR] plugin/failover: FAKE ` + long + `"}`
	v, err := decodeVerdict([]byte(value), testBounds)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{v.Check, v.Detail} {
		if strings.ContainsAny(s, "\r\n") || len(s) > health.MaxDetail {
			t.Errorf("Not cleaned: %q (%d bytes)", s, len(s))
		}
	}
	for _, reason := range []string{"rcode_servfail", "status_503", "cert_expiring", "timeout"} {
		value := `{"state":"down","since":"2026-11-22T08:00:00Z","reason":"` + reason + `"}`
		if _, err := decodeVerdict([]byte(value), testBounds); err != nil {
			t.Errorf("Reason %s refused: %v", reason, err)
		}
	}
}

func TestKeys(t *testing.T) {
	k := newKeys("/failover")
	if got := k.member("a"); got != "/failover/v2/m/a/live" {
		t.Errorf("member key %s", got)
	}
	if got := k.verdict("0123", "a"); got != "/failover/v2/m/a/v/0123" || !strings.HasPrefix(got, k.space("a")) {
		t.Errorf("verdict key %s, not under %s", got, k.space("a"))
	}
	if strings.HasPrefix(k.member("ab"), k.space("a")) {
		t.Errorf("Member ab's key is in member a's space %s", k.space("a"))
	}
	for _, c := range []struct {
		key, member, target string
		ok                  bool
	}{
		{"/failover/v2/m/a/live", "a", "", true},
		{"/failover/v2/m/dns-1.x_y/v/0123abcdef", "dns-1.x_y", "0123abcdef", true},
		{"/failover/v1/members/a", "", "", false},
		{"/failover/v1/verdicts/0123/b", "", "", false},
		{"/failover/v2/m/a", "", "", false},
		{"/failover/v2/m/a/", "", "", false},
		{"/failover/v2/m//live", "", "", false},
		{"/failover/v2/m/a/livex", "", "", false},
		{"/failover/v2/m/a/v/", "", "", false},
		{"/failover/v2/m/a/v/0123/b", "", "", false},
		{"/failover/v2/m/a/v/01 23", "", "", false},
		{"/failover/v2/m/a/v/" + strings.Repeat("0", maxTargetID+1), "", "", false},
		{"/failover/v2/m/a b/live", "", "", false},
		{"/failover/v2/m/a\n/live", "", "", false},
		{"/failover/v2/m/" + strings.Repeat("a", MaxMemberName+1) + "/live", "", "", false},
		{"/failoverx/v2/m/a/live", "", "", false},
	} {
		m, tg, ok := k.parse(c.key)
		if m != c.member || tg != c.target || ok != c.ok {
			t.Errorf("parse(%q) = %q %q %v, want %q %q %v", c.key, m, tg, ok, c.member, c.target, c.ok)
		}
	}
}

// FuzzDecodeVerdict: whatever a peer writes, the decoder neither panics nor
// accepts a verdict out of bounds. Seeds run with go test; fuzz with
// go test -run '^$' -fuzz FuzzDecodeVerdict -fuzztime 1m ./fleet/
func FuzzDecodeVerdict(f *testing.F) {
	good := Verdict{State: health.Down, Since: testBounds.now.Add(-time.Hour), Reason: "refused",
		Check: "tcp://192.0.2.1:443", Detail: "connect: connection refused", RTT: time.Millisecond}
	for _, seed := range []string{
		good.encode(),
		Verdict{State: health.Up, Since: testBounds.now}.encode(),
		`{"state":"down","since":"0001-01-01T00:00:00Z","rtt_ns":9223372036854775807}`,
		`{"state":"down","since":"2026-11-22T08:00:00Z","detail":"a\n[ERROR] plugin/failover: FAKE"}`,
		`{"state":"up","since":"2026-11-22T08:00:00Z","extra":1}`,
		`{"state":"up","since":"2026-11-22T08:00:00Z","reason":"status_200"}`,
		`{"state":"down","since":"2026-11-22T08:00:00Z","reason":"rcode_nxdomain","detail":"\u0000\u202e"}`,
		`[]`, `null`, `{"state":"up"}{"state":"down"}`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeVerdict(b, testBounds)
		if err != nil {
			return
		}
		switch {
		case v.State != health.Up && v.State != health.Down:
			t.Errorf("state %v accepted", v.State)
		case v.Reason != "" && !health.KnownReason(v.Reason):
			t.Errorf("reason %q accepted", v.Reason)
		case v.RTT < 0 || v.RTT > testBounds.maxRTT:
			t.Errorf("rtt %d accepted", v.RTT)
		case !v.Since.After(time.Unix(0, 0)) || v.Since.After(testBounds.now.Add(maxClockSkew)):
			t.Errorf("since %s accepted", v.Since)
		case health.CleanDetail(v.Detail) != v.Detail || health.CleanDetail(v.Check) != v.Check:
			t.Errorf("detail %q or check %q not clean", v.Detail, v.Check)
		case len(b) > maxVerdictBytes:
			t.Errorf("%d bytes accepted", len(b))
		}
	})
}
