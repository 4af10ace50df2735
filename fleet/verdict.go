package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/failover-dns/failover/health"
	clientv3 "go.etcd.io/etcd/client/v3"
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
	// lease: the lease the verdict's key was written under. It counts only
	// while it is its member's (see Fleet.counted).
	lease clientv3.LeaseID
}

// verdictJSON is a Verdict as stored: the state as a word.
type verdictJSON struct {
	State string `json:"state"`
	Verdict
}

// encode is the verdict as published, its check cleaned as a peer will
// read it (a long check URL must not push the value over maxVerdictBytes).
func (v Verdict) encode() string {
	v.Check = health.CleanDetail(v.Check)
	b, _ := json.Marshal(verdictJSON{State: v.State.String(), Verdict: v})
	return string(b)
}

// Bounds of what a peer's verdict may say.
const (
	// maxVerdictBytes caps a verdict's value before it is decoded: an
	// honest one, with a detail and a check of health.MaxDetail bytes each
	// even at JSON's 6 bytes per escaped character, stays under it.
	maxVerdictBytes = 4096
	// maxClockSkew is how far ahead of this member's clock a since may be.
	maxClockSkew = time.Minute
	// maxUnwatchedRTT bounds the RTT of a verdict on a target this process
	// does not watch (it has no probe timeout to check it against yet;
	// Fleet.Watch checks it once it has).
	maxUnwatchedRTT = time.Minute
)

// verdictBounds are what a peer's verdict's times must lie within.
type verdictBounds struct {
	now    time.Time
	maxRTT time.Duration
}

// errVerdict is a verdict refused as invalid.
var errVerdict = errors.New("invalid verdict")

// decodeVerdict reads a peer's verdict strictly: at most maxVerdictBytes,
// no field this version does not write, a known state and reason, since
// after the Unix epoch and at most maxClockSkew ahead, an RTT within
// [0, maxRTT]; detail and check cleaned as a local probe's are.
func decodeVerdict(b []byte, within verdictBounds) (Verdict, error) {
	if len(b) > maxVerdictBytes {
		return Verdict{}, fmt.Errorf("%w: %d bytes, over %d", errVerdict, len(b), maxVerdictBytes)
	}
	var j verdictJSON
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return Verdict{}, fmt.Errorf("%w: %v", errVerdict, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return Verdict{}, fmt.Errorf("%w: data after the JSON object", errVerdict)
	}
	v := j.Verdict
	switch j.State {
	case health.Up.String():
		v.State = health.Up
	case health.Down.String():
		v.State = health.Down
	default:
		return Verdict{}, fmt.Errorf("%w: state %q is neither %s nor %s", errVerdict, j.State, health.Up, health.Down)
	}
	if v.Reason != "" && !health.KnownReason(v.Reason) {
		return Verdict{}, fmt.Errorf("%w: unknown reason %q", errVerdict, v.Reason)
	}
	if !v.Since.After(time.Unix(0, 0)) || v.Since.After(within.now.Add(maxClockSkew)) {
		return Verdict{}, fmt.Errorf("%w: since %s is not between the Unix epoch and %s from now", errVerdict,
			v.Since.UTC().Format(time.RFC3339), maxClockSkew)
	}
	if v.RTT < 0 || v.RTT > within.maxRTT {
		return Verdict{}, fmt.Errorf("%w: rtt_ns %d is not within [0, %s]", errVerdict, int64(v.RTT), within.maxRTT)
	}
	v.Check, v.Detail = health.CleanDetail(v.Check), health.CleanDetail(v.Detail)
	return v, nil
}

// Keys, all under PREFIX/v2/ so that another layout can live beside this
// one (replicas on v1 and v2 do not see each other). Everything a member
// writes is under PREFIX/v2/m/MEMBER/, so that an etcd role granting
// readwrite on that prefix, and read on PREFIX/v2/, confines it (the
// trailing '/' keeps member "a" out of member "ab"'s keys; a name has no
// '/', see ValidMember):
//
//	PREFIX/v2/m/MEMBER/live         a live member, under its lease
//	PREFIX/v2/m/MEMBER/v/TARGET     MEMBER's verdict on TARGET (a spec's ID), under the same lease
type keys struct{ root string }

// Layout is the key layout's version: keys live under PREFIX + "/" + Layout + "/".
const Layout = "v2"

func newKeys(prefix string) keys { return keys{root: prefix + "/" + Layout + "/"} }

// space is everything member may write: the prefix its etcd role grants.
func (k keys) space(member string) string { return k.root + "m/" + member + "/" }

func (k keys) member(name string) string { return k.space(name) + "live" }

func (k keys) verdict(target, member string) string { return k.space(member) + "v/" + target }

// parse tells what a key under the root names: a member, or a verdict.
// Names that this version would not write are not keys of the fleet.
func (k keys) parse(key string) (member, target string, ok bool) {
	rest, found := strings.CutPrefix(key, k.root+"m/")
	if !found {
		return "", "", false
	}
	member, rest, found = strings.Cut(rest, "/")
	if !found || !ValidMember(member) {
		return "", "", false
	}
	if rest == "live" {
		return member, "", true
	}
	if target, found := strings.CutPrefix(rest, "v/"); found && validTargetID(target) {
		return member, target, true
	}
	return "", "", false
}

// MaxMemberName caps a member's name, in bytes.
const MaxMemberName = 63

// ValidMember reports whether name is a member name: 1 to MaxMemberName
// ASCII letters, digits, '.', '-' and '_' (no '/': a name cannot reach
// into another member's keys).
func ValidMember(name string) bool {
	if name == "" || len(name) > MaxMemberName {
		return false
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// maxTargetID caps a target ID read from etcd (a spec's ID is 32 hex digits).
const maxTargetID = 128

// validTargetID reports whether id could be a target's ID: 1 to
// maxTargetID ASCII letters, digits, '-' and '_'.
func validTargetID(id string) bool {
	if id == "" || len(id) > maxTargetID {
		return false
	}
	for _, r := range id {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
