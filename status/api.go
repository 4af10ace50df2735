// Package status serves what failover decided, read-only: a JSON API, a
// page and an event stream on a listener of its own. It knows
// nothing of DNS or of how the numbers are made: a Source provides them.
package status

import (
	"time"

	"github.com/failover-dns/failover/events"
)

// Source provides the current state of every pool of the process, and its
// event history.
type Source interface {
	// Pools returns the pools named by filter (any of a pool's names, with or
	// without the final dot), or every pool when filter is empty.
	Pools(filter string) []Pool
	// Events returns the process's event history.
	Events() *events.Log
}

// Pool is one pool as /api/v1/status shows it.
type Pool struct {
	Name        string   `json:"name"`  // the first name: the pool's metric label
	Names       []string `json:"names"` // every name it answers for
	Zone        string   `json:"zone"`
	ServerBlock string   `json:"server_block"`
	Policy      string   `json:"policy"`
	TTL         uint32   `json:"ttl"`  // the TTL answers carry now
	Mode        string   `json:"mode"` // healthy, degraded or all_down
	// AllDown is the all_down policy, in force when Mode is all_down.
	AllDown string `json:"all_down"`
	// Answers are the current candidates of each family (A, AAAA), before
	// any per-query choice (weighted, hash, regions).
	Answers map[string][]string `json:"answers"`
	Targets []Target            `json:"targets"`
}

// Target is one target of a pool.
type Target struct {
	Address   string    `json:"address"`
	Probe     string    `json:"probe"`                // the address probes go to
	ProbePort uint16    `json:"probe_port,omitempty"` // 0: each check's own port
	Priority  int       `json:"priority"`
	Weight    int       `json:"weight"`
	Region    string    `json:"region,omitempty"`
	State     string    `json:"state"` // unknown, up or down
	Since     time.Time `json:"since,omitzero"`
	// LastProbe is when the last probe round ended, and how long it took.
	LastProbe         time.Time `json:"last_probe,omitzero"`
	LastProbeDuration float64   `json:"last_probe_duration_seconds"`
	RTT               float64   `json:"rtt_seconds"` // smoothed round-trip time; 0 until a round passed
	// Slow: the smoothed RTT went over the pool's slow_rtt (and has not come
	// back below 80 % of it).
	Slow bool `json:"slow,omitempty"`
	// Steering says how the target's speed steers the answers: why it is
	// slow, or where it stands under policy fastest. Empty otherwise.
	Steering    string    `json:"steering,omitempty"`
	LastFailure *Failure  `json:"last_failure,omitempty"`
	Override    string    `json:"override,omitempty"` // up, down or drain
	HoldUntil   time.Time `json:"hold_until,omitzero"`
	// Held is a manual failback hold, which only an operator ends.
	Held        bool    `json:"held,omitempty"`
	Transitions int     `json:"transitions"`
	Uptime      Uptimes `json:"uptime"`
	// Fleet is how the replicas of a fleet decide the target; absent
	// without one.
	Fleet *Fleet `json:"fleet,omitempty"`
}

// Fleet is a target as a fleet decides it: who probes it, what each
// prober says, and how many must agree.
type Fleet struct {
	Member string `json:"member"` // this replica
	// Mode: "fleet" (the quorum of the probers' verdicts), "local" (etcd
	// lost: this replica decides every target alone) or "joining".
	Mode string `json:"mode"`
	// Alone: this replica decides the target by itself (local mode, or too
	// few of its probers have a verdict).
	Alone      bool     `json:"alone,omitempty"`
	ProbedHere bool     `json:"probed_here"`
	Quorum     int      `json:"quorum"`
	Probers    []Prober `json:"probers"`
}

// Prober is one current prober of a target and its published verdict.
type Prober struct {
	Member string `json:"member"`
	// State: "up" or "down", or "none" while it has no verdict (it abstains).
	State  string    `json:"state"`
	Since  time.Time `json:"since,omitzero"`
	Reason string    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
	RTT    float64   `json:"rtt_seconds,omitempty"`
}

// Failure is the last failed probe round of a target.
type Failure struct {
	Time   time.Time `json:"time"`
	Check  string    `json:"check"`
	Reason string    `json:"reason"`
	Detail string    `json:"detail,omitempty"`
}

// Uptimes are the shares of time a target was UP, over the part of each
// window the process has seen.
type Uptimes struct {
	Hour float64 `json:"hour"`
	Day  float64 `json:"day"`
}
