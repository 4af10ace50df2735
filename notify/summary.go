package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/failover-dns/failover/events"
)

// Summary is a one-line description of an event for a person, as the slack
// format sends it, e.g. "www.example.org.: target 192.0.2.10 is down
// (refused: dial tcp: connect: connection refused)".
func Summary(e events.Event) string {
	subject := e.Pool
	if subject == "" {
		subject = e.Server
	}
	var what string
	switch e.Type {
	case events.TypeTargetUp:
		what = fmt.Sprintf("target %s is up", e.Target)
	case events.TypeTargetDown:
		what = fmt.Sprintf("target %s is down%s", e.Target, parens(joinNonEmpty(": ", e.Reason, e.Detail)))
	case events.TypeAnswerChanged:
		what = fmt.Sprintf("%s answer changed from %s to %s", e.Family, addrs(e.Old), addrs(e.New))
	case events.TypeAllDownEngaged:
		what = fmt.Sprintf("no %s target is up: all_down %s engaged", e.Family, e.Policy)
	case events.TypeAllDownCleared:
		what = fmt.Sprintf("%s targets are up again: all_down %s cleared", e.Family, e.Policy)
	case events.TypeOverrideApplied:
		what = fmt.Sprintf("target %s forced %s by an override%s", e.Target, e.Action, parens(e.Reason))
	case events.TypeOverrideLifted:
		what = fmt.Sprintf("override %s of target %s lifted%s", e.Action, e.Target, parens(e.Reason))
	case events.TypeHoldStarted:
		until := "until an operator ends it"
		if !e.Until.IsZero() {
			until = "until " + e.Until.UTC().Format(time.RFC3339)
		}
		what = fmt.Sprintf("target %s recovered and is held out of the answers %s", e.Target, until)
	case events.TypeHoldEnded:
		what = fmt.Sprintf("hold-down of target %s ended", e.Target)
	case events.TypeSlowStarted, events.TypeSlowEnded:
		what = fmt.Sprintf("target %s is %s", e.Target, e.Detail)
	case events.TypeConfigLoaded:
		what = fmt.Sprintf("configuration loaded: pools added %s, removed %s; targets added %d, removed %d",
			addrs(e.PoolsAdded), addrs(e.PoolsRemoved), len(e.TargetsAdded), len(e.TargetsRemoved))
	default:
		what = e.Type
	}
	if subject == "" {
		return what
	}
	return subject + ": " + what
}

// slackEscaper escapes what Slack's message format reads as markup: a
// detail a target (or a fleet peer) wrote, such as "<!channel>" or
// "<https://example.net|click here>", must reach the channel as text.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }

func parens(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// addrs writes a list of addresses or names, or "none".
func addrs(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, " ")
}
