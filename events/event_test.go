package events

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// Each type's event carries, in JSON, its own fields and nothing else.
func TestEventJSONCarriesOnlySetFields(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		event Event
		keys  []string
	}{
		{Event{Type: TypeTargetUp, Pool: "web", Target: "192.0.2.1"},
			[]string{"pool", "target"}},
		{Event{Type: TypeTargetDown, Pool: "web", Target: "192.0.2.1", Check: "tcp://192.0.2.1:80", Reason: "refused", Detail: "connection refused"},
			[]string{"check", "detail", "pool", "reason", "target"}},
		{Event{Type: TypeAnswerChanged, Pool: "web", Family: "A", Old: []string{"192.0.2.1"}, New: []string{"192.0.2.2"}},
			[]string{"family", "new", "old", "pool"}},
		{Event{Type: TypeAllDownEngaged, Pool: "web", Family: "AAAA", Policy: "servfail"},
			[]string{"family", "policy", "pool"}},
		{Event{Type: TypeOverrideApplied, Pool: "web", Target: "192.0.2.1", Action: "drain", Reason: "maintenance"},
			[]string{"action", "pool", "reason", "target"}},
		{Event{Type: TypeHoldStarted, Pool: "web", Target: "192.0.2.1", Until: at},
			[]string{"pool", "target", "until"}},
		{Event{Type: TypeHoldStarted, Pool: "web", Target: "192.0.2.1"},
			[]string{"pool", "target"}},
		{Event{Type: TypeConfigLoaded, Server: "example.org.:53", PoolsAdded: []string{"api"},
			TargetsRemoved: []PoolTarget{{Pool: "web", Target: "192.0.2.3"}}},
			[]string{"pools_added", "server", "targets_removed"}},
	}
	for _, tc := range tests {
		tc.event.ID, tc.event.Time = 7, at
		data, err := json.Marshal(tc.event)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range fields {
			if k != "id" && k != "time" && k != "type" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		if !slices.Equal(keys, tc.keys) {
			t.Errorf("%s: JSON has fields %v, want %v: %s", tc.event.Type, keys, tc.keys, data)
		}
		var back Event
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if again, err := json.Marshal(back); err != nil || string(again) != string(data) {
			t.Errorf("%s: JSON does not survive a round trip: %s", tc.event.Type, data)
		}
	}
}
