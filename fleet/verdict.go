package fleet

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/failover-dns/failover/health"
)

// Verdict is what a prober publishes about a target: its state under the
// prober's own rise/fall, since when, why it last failed, and its smoothed
// round-trip time. Detail and Check never hold secrets (see health.Result).
type Verdict struct {
	State  health.State  `json:"-"`
	Since  time.Time     `json:"since"`
	Reason string        `json:"reason,omitempty"`
	Check  string        `json:"check,omitempty"`
	Detail string        `json:"detail,omitempty"`
	RTT    time.Duration `json:"rtt_ns,omitempty"`
	// stale: read when this member joined, not published since (see decide).
	stale bool
}

// verdictJSON is a Verdict as stored: the state as a word.
type verdictJSON struct {
	State string `json:"state"`
	Verdict
}

func (v Verdict) encode() string {
	b, _ := json.Marshal(verdictJSON{State: v.State.String(), Verdict: v})
	return string(b)
}

func decodeVerdict(b []byte) (Verdict, error) {
	var j verdictJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Verdict{}, err
	}
	v := j.Verdict
	switch j.State {
	case health.Up.String():
		v.State = health.Up
	case health.Down.String():
		v.State = health.Down
	default:
		return Verdict{}, fmt.Errorf("state %q is neither %s nor %s", j.State, health.Up, health.Down)
	}
	return v, nil
}

// Keys, all under PREFIX/v1/ so that a later layout can live beside this one:
//
//	PREFIX/v1/members/MEMBER             a live member, under its lease
//	PREFIX/v1/verdicts/TARGET/MEMBER     MEMBER's verdict on TARGET (a spec's ID), under its lease
type keys struct{ root string }

func newKeys(prefix string) keys { return keys{root: prefix + "/v1/"} }

func (k keys) member(name string) string { return k.root + "members/" + name }

func (k keys) verdict(target, member string) string {
	return k.root + "verdicts/" + target + "/" + member
}

// parse tells what a key under the root names: a member, or a verdict.
func (k keys) parse(key string) (member, target string, ok bool) {
	rest, found := strings.CutPrefix(key, k.root)
	if !found {
		return "", "", false
	}
	if name, found := strings.CutPrefix(rest, "members/"); found && name != "" && !strings.Contains(name, "/") {
		return name, "", true
	}
	if tm, found := strings.CutPrefix(rest, "verdicts/"); found {
		target, member, found := strings.Cut(tm, "/")
		if found && target != "" && member != "" && !strings.Contains(member, "/") {
			return member, target, true
		}
	}
	return "", "", false
}
