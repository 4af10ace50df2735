package notify

import (
	"testing"
	"time"

	"github.com/failover-dns/failover/events"
)

func TestSummary(t *testing.T) {
	until := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		e    events.Event
		want string
	}{
		{downEvent, "www.example.org.: target 192.0.2.10 is down (refused: dial tcp: connect: connection refused)"},
		{events.Event{Type: events.TypeTargetDown, Pool: "web", Target: "192.0.2.1", Reason: "timeout"}, "web: target 192.0.2.1 is down (timeout)"},
		{events.Event{Type: events.TypeTargetUp, Pool: "web", Target: "192.0.2.1"}, "web: target 192.0.2.1 is up"},
		{events.Event{Type: events.TypeAnswerChanged, Pool: "web", Family: "A", Old: []string{"192.0.2.1"}, New: []string{"192.0.2.2", "192.0.2.3"}},
			"web: A answer changed from 192.0.2.1 to 192.0.2.2 192.0.2.3"},
		{events.Event{Type: events.TypeAnswerChanged, Pool: "web", Family: "AAAA", New: []string{"2001:db8::1"}}, "web: AAAA answer changed from none to 2001:db8::1"},
		{events.Event{Type: events.TypeAllDownEngaged, Pool: "web", Family: "A", Policy: "servfail"}, "web: no A target is up: all_down servfail engaged"},
		{events.Event{Type: events.TypeAllDownCleared, Pool: "web", Family: "A", Policy: "servfail"}, "web: A targets are up again: all_down servfail cleared"},
		{events.Event{Type: events.TypeOverrideApplied, Pool: "web", Target: "192.0.2.1", Action: "drain", Reason: "maintenance"}, "web: target 192.0.2.1 forced drain by an override (maintenance)"},
		{events.Event{Type: events.TypeOverrideLifted, Pool: "web", Target: "192.0.2.1", Action: "drain"}, "web: override drain of target 192.0.2.1 lifted"},
		{events.Event{Type: events.TypeHoldStarted, Pool: "web", Target: "192.0.2.1", Until: until}, "web: target 192.0.2.1 recovered and is held out of the answers until 2026-05-01T12:00:00Z"},
		{events.Event{Type: events.TypeHoldStarted, Pool: "web", Target: "192.0.2.1"}, "web: target 192.0.2.1 recovered and is held out of the answers until an operator ends it"},
		{events.Event{Type: events.TypeHoldEnded, Pool: "web", Target: "192.0.2.1"}, "web: hold-down of target 192.0.2.1 ended"},
		{events.Event{Type: events.TypeConfigLoaded, Server: "dns://example.org.:53", PoolsAdded: []string{"web", "api"},
			TargetsRemoved: []events.PoolTarget{{Pool: "db", Target: "192.0.2.9"}}},
			"dns://example.org.:53: configuration loaded: pools added web api, removed none; targets added 0, removed 1"},
		{events.Event{Type: "something_new"}, "something_new"},
	}
	for _, tc := range tests {
		if got := Summary(tc.e); got != tc.want {
			t.Errorf("Summary(%s):\n got  %s\n want %s", tc.e.Type, got, tc.want)
		}
	}
}
