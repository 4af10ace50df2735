package fleet

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/health"
	"github.com/failover-dns/failover/internal/logtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// tokenSpec is a target whose check sends a four-digit token in a header.
func tokenSpec(t *testing.T, token string) health.Spec {
	t.Helper()
	check, err := health.NewCheck(health.CheckConfig{URL: "https://api.example.org/health", Timeout: time.Second,
		Options: []health.Option{{Name: "header", Args: []string{"X-Token", token}}}})
	if err != nil {
		t.Fatal(err)
	}
	return health.Spec{Addr: netip.MustParseAddr("192.0.2.20"), Checks: []*health.Check{check}, Interval: time.Second,
		FastInterval: 100 * time.Millisecond, Timeout: time.Second, Rise: 2, Fall: 3}
}

// guessToken plays whoever reads etcd: it tries every four-digit token
// against a target's name there.
func guessToken(t *testing.T, cfg Config, id string) (string, bool) {
	for n := range 10000 {
		guess := fmt.Sprintf("%04d", n)
		if cfg.TargetID(tokenSpec(t, guess)) == id {
			return guess, true
		}
	}
	return "", false
}

// TestTargetIDHidesAWeakToken: without a secret, a short token in a check
// header is recovered from the target's ID by trying every value; keyed
// with the fleet's secret, trying every value finds nothing, while members
// that share the secret still agree on the name.
func TestTargetIDHidesAWeakToken(t *testing.T) {
	const token = "4821"
	plain := Config{}
	if guess, ok := guessToken(t, plain, plain.TargetID(tokenSpec(t, token))); !ok || guess != token {
		t.Fatalf("Without a secret, want the token recovered from the ID (the attack this guards against), got %q, %v", guess, ok)
	}
	keyed := Config{Secret: "9f1c2e7a4b6d8e0f1a3c5e7b"}
	id := keyed.TargetID(tokenSpec(t, token))
	if guess, ok := guessToken(t, plain, id); ok {
		t.Errorf("With a secret, the token %q was recovered from the ID %s", guess, id)
	}
	if again := (Config{Secret: keyed.Secret, Member: "another"}).TargetID(tokenSpec(t, token)); again != id {
		t.Errorf("Two members with one secret name the target %s and %s, want the same", id, again)
	}
	if other := (Config{Secret: keyed.Secret + "x"}).TargetID(tokenSpec(t, token)); other == id {
		t.Errorf("Two secrets give the target the same name %s", id)
	}
	if len(id) != 32 {
		t.Errorf("ID %q: want 32 hex digits, as unkeyed ones", id)
	}
}

// TestWatchNamesTargetsWithTheSecret: the name a member publishes under is
// the keyed one.
func TestWatchNamesTargetsWithTheSecret(t *testing.T) {
	f := testFleet(t, "a", "a")
	f.cfg.Secret = "9f1c2e7a4b6d8e0f1a3c5e7b"
	spec := tokenSpec(t, "4821")
	tg := f.Watch(spec, false)
	defer tg.Release()
	if want := f.cfg.TargetID(spec); tg.ID() != want || tg.ID() == spec.ID() {
		t.Errorf("Target ID %s, want the keyed %s (the spec's plain ID is %s)", tg.ID(), want, spec.ID())
	}
}

// TestFleetLeavesOutMembersKeyedApart: a live member whose key says it
// names targets under another secret (or none) is left out of the fleet,
// with one warning, and counts again once it shares the secret.
func TestFleetLeavesOutMembersKeyedApart(t *testing.T) {
	logged := logtest.Capture(t)
	f := testFleet(t, "z", "z")
	f.cfg.Secret = "9f1c2e7a4b6d8e0f1a3c5e7b"
	same := encodeMember(time.Now(), f.cfg.secretMark())
	other := encodeMember(time.Now(), Config{Secret: f.cfg.Secret + "x"}.secretMark())
	none := encodeMember(time.Now(), "")
	f.apply([]*clientv3.Event{putEvent(f.keys.member("a"), same, 7), putEvent(f.keys.member("b"), other, 8),
		putEvent(f.keys.member("c"), none, 9), putEvent(f.keys.member("d"), "not json", 10)})
	f.apply([]*clientv3.Event{putEvent(f.keys.member("b"), other, 8)}) // again: no second warning
	if got := f.Members(); !slices.Equal(got, []string{"a", "z"}) {
		t.Errorf("Members %v, want a z (b, c and d keyed apart)", got)
	}
	out := logged.String()
	for _, m := range []string{`"b"`, `"c"`} {
		if n := strings.Count(out, "member "+m+" names targets under another fleet secret"); n != 1 {
			t.Errorf("Want one warning for member %s, got %d:\n%s", m, n, out)
		}
	}
	if !strings.Contains(out, `member "d" has a member key this version does not read`) {
		t.Errorf("Want a warning for member d, logged:\n%s", out)
	}
	if strings.Contains(out, f.cfg.Secret) {
		t.Errorf("The log shows the secret:\n%s", out)
	}
	f.apply([]*clientv3.Event{putEvent(f.keys.member("b"), same, 11)})
	if got := f.Members(); !slices.Equal(got, []string{"a", "b", "z"}) {
		t.Errorf("Members %v after b took the secret, want a b z", got)
	}
}
