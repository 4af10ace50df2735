// Package events keeps a bounded history of events and hands each new one to
// live subscribers. It knows nothing of what the events are about: the
// producer fills in an Event, the Log numbers, stamps, stores and delivers it.
//
// A Log is safe for concurrent use. Append never blocks on a subscriber: a
// subscriber that falls behind loses events, counts them, and can fetch what
// it missed from the history with Since while the history still holds it.
package events

import "time"

// Event types. Each type uses only the fields listed with it (besides ID,
// Time and Type); the others stay empty and are left out of the JSON.
const (
	// TypeTargetUp: Pool, Target.
	TypeTargetUp = "target_up"
	// TypeTargetDown: Pool, Target, Check, Reason, Detail.
	TypeTargetDown = "target_down"
	// TypeAnswerChanged: Pool, Family, Old, New.
	TypeAnswerChanged = "answer_changed"
	// TypeAllDownEngaged: Pool, Family, Policy.
	TypeAllDownEngaged = "all_down_engaged"
	// TypeAllDownCleared: Pool, Family, Policy.
	TypeAllDownCleared = "all_down_cleared"
	// TypeOverrideApplied: Pool, Target, Action, Reason.
	TypeOverrideApplied = "override_applied"
	// TypeOverrideLifted: Pool, Target, Action, Reason.
	TypeOverrideLifted = "override_lifted"
	// TypeHoldStarted: Pool, Target, Until.
	TypeHoldStarted = "hold_started"
	// TypeHoldEnded: Pool, Target, Until.
	TypeHoldEnded = "hold_ended"
	// TypeSlowStarted: Pool, Target, Detail (the smoothed RTT and slow_rtt).
	TypeSlowStarted = "slow_started"
	// TypeSlowEnded: Pool, Target, Detail.
	TypeSlowEnded = "slow_ended"
	// TypeConfigLoaded: Server, PoolsAdded, PoolsRemoved, TargetsAdded, TargetsRemoved.
	TypeConfigLoaded = "config_loaded"
)

// Types lists every event type, in the order above: the one list that
// configuration (notify's events) and documentation check against.
var Types = []string{
	TypeTargetUp, TypeTargetDown, TypeAnswerChanged, TypeAllDownEngaged, TypeAllDownCleared,
	TypeOverrideApplied, TypeOverrideLifted, TypeHoldStarted, TypeHoldEnded, TypeSlowStarted, TypeSlowEnded,
	TypeConfigLoaded,
}

// Event is one thing that happened. The producer sets Type and the fields
// its type uses; Log.Append sets ID and, unless the producer did, Time.
//
// An Event is a value, but its slices are shared by every copy the Log hands
// out (to Since callers and subscribers): nobody may modify them once the
// Event has been appended.
type Event struct {
	// ID numbers the events of a Log from 1 up, one by one, in the order
	// they were appended. An ID is never reused, so a gap between two IDs a
	// reader received means it missed the events in between.
	ID uint64 `json:"id"`
	// Time is when the event happened: the Log's clock at Append unless the
	// producer set it.
	Time time.Time `json:"time"`
	// Type is one of the Type constants.
	Type string `json:"type"`

	// Server is the server block the event concerns, as its keys (for
	// example "example.org.:53"). config_loaded always has it; other types
	// may carry it where a pool's name alone is ambiguous.
	Server string `json:"server,omitempty"`
	// Pool is the name of the pool the event concerns.
	Pool string `json:"pool,omitempty"`
	// Target is the target the event concerns, as the configuration names
	// it (an address).
	Target string `json:"target,omitempty"`

	// Check is the check that failed (target_down), as the configuration
	// writes it less any secret it holds (credentials, query).
	Check string `json:"check,omitempty"`
	// Reason says why. target_down: the failure's class, one of a small
	// fixed set (for example "timeout", "refused", "status 503");
	// override_applied, override_lifted: the text the operator wrote.
	Reason string `json:"reason,omitempty"`
	// Detail says more about a failure, for a person (target_down).
	Detail string `json:"detail,omitempty"`

	// Family is the address family an answer event concerns: "A" or "AAAA"
	// (answer_changed, all_down_engaged, all_down_cleared).
	Family string `json:"family,omitempty"`
	// Old is the family's candidate addresses before the change, before
	// any per-query choice (answer_changed). Absent means none.
	Old []string `json:"old,omitempty"`
	// New is the family's candidate addresses after the change, before any
	// per-query choice (answer_changed). Absent means none.
	New []string `json:"new,omitempty"`
	// Policy is the all_down policy in force while no target of the family
	// is up, for example "best_tier" or "servfail" (all_down_engaged,
	// all_down_cleared).
	Policy string `json:"policy,omitempty"`

	// Action is what an operator forced on a target: "up", "down" or
	// "drain" (override_applied; override_lifted: the action lifted).
	Action string `json:"action,omitempty"`

	// Until is when a failback hold-down ends (hold_started; hold_ended:
	// when it was due to end). Zero, and absent, for a manual hold that
	// only an operator ends.
	Until time.Time `json:"until,omitzero"`

	// PoolsAdded names the pools a configuration added (config_loaded).
	PoolsAdded []string `json:"pools_added,omitempty"`
	// PoolsRemoved names the pools a configuration removed (config_loaded).
	PoolsRemoved []string `json:"pools_removed,omitempty"`
	// TargetsAdded lists the targets a configuration added to pools that
	// it kept (config_loaded); the targets of an added pool are not listed.
	TargetsAdded []PoolTarget `json:"targets_added,omitempty"`
	// TargetsRemoved lists the targets a configuration removed from pools
	// that it kept (config_loaded); the targets of a removed pool are not
	// listed.
	TargetsRemoved []PoolTarget `json:"targets_removed,omitempty"`

	// NotifiedBy names the member of a fleet that sends this event's
	// notifications when that is another replica: every replica records
	// the fleet's events, one notifies them. Empty when this process does.
	NotifiedBy string `json:"notified_by,omitempty"`
}

// PoolTarget names a target of a pool.
type PoolTarget struct {
	// Pool is the pool's name.
	Pool string `json:"pool"`
	// Target is the target, as the configuration names it.
	Target string `json:"target"`
}
