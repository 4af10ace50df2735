// Package fleet lets several CoreDNS replicas share the probing of their
// targets through etcd: each target is probed by a few members chosen by
// rendezvous hashing, each prober publishes its verdict when it changes,
// and every member decides a target's state by a quorum of its probers'
// verdicts. It knows health (specs, monitors, updates), not DNS.
package fleet

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/failover-dns/failover/health"
)

// Defaults of the fleet directive's properties.
const (
	DefaultPrefix  = "/failover"
	DefaultProbers = 2
	DefaultLease   = 10 * time.Second
	// MinLease is etcd's own floor on a lease's TTL with its default
	// election timeout (1.5 s, rounded up to whole seconds).
	MinLease = 2 * time.Second
	// Majority in Config.Quorum: more than half of a target's probers
	// (min(Probers, live members)).
	Majority = 0
)

// Config is one fleet directive: where etcd is and how this member takes part.
type Config struct {
	Endpoints []string
	Prefix    string        // keys live under Prefix + "/v1/"
	Member    string        // this replica's name in the fleet; unique per replica
	Probers   int           // members that probe each target (K)
	Quorum    int           // verdicts that decide a state; Majority: of the current probers
	Lease     time.Duration // membership and verdicts expire this long after a member goes silent
	Username  string
	Password  string
	// TLS to etcd (verified); nil: plain connections.
	TLS *tls.Config
	// TLSFiles names the files TLS came from and a digest of what they
	// held, so that two directives with the same files share one fleet (a
	// tls.Config cannot be compared), and a renewed certificate does not.
	TLSFiles string
	// Secret keys the targets' IDs in etcd (see TargetID); "" leaves them
	// the specs' plain digests. Every member of a fleet needs the same.
	Secret string
}

// key identifies a configuration: replicas of the same server block, and a
// reload that keeps the directive as it was, share one running fleet.
func (c Config) key() string {
	return fmt.Sprintf("%s|%s|%s|%d|%d|%s|%s|%x|%s|%x", strings.Join(c.Endpoints, ","), c.Prefix, c.Member,
		c.Probers, c.Quorum, c.Lease, c.Username, hashString(c.Password), c.TLSFiles, hashString(c.Secret))
}

// secretMark lets members tell whether they share the secret without
// showing it: an HMAC of a fixed text under the secret; "" without one.
func (c Config) secretMark() string {
	if c.Secret == "" {
		return ""
	}
	mac := hmac.New(sha256.New, []byte(c.Secret))
	mac.Write([]byte("failover fleet secret mark"))
	return hex.EncodeToString(mac.Sum(nil)[:8])
}

// TargetID is the name a target's spec has in etcd. A spec's ID is a
// plain digest of everything that makes the probe, header values included:
// whoever reads etcd could test guesses of a short token against it (ten
// thousand four-digit tokens take milliseconds). Keyed with the fleet's
// secret, the name says nothing to whoever lacks the secret, and members
// that share it still agree on it.
func (c Config) TargetID(spec health.Spec) string {
	id := spec.ID()
	if c.Secret == "" {
		return id
	}
	mac := hmac.New(sha256.New, []byte(c.Secret))
	mac.Write([]byte(id))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// quorumOf is how many verdicts decide a state among probers current
// probers of a target: Quorum, or a majority of them, and never more than
// there are (a fleet shrunk to one member still decides).
func (c Config) quorumOf(probers int) int {
	if probers <= 0 {
		return 1
	}
	if c.Quorum == Majority {
		return probers/2 + 1
	}
	return min(c.Quorum, probers)
}

// hashString keeps a secret out of a comparable key.
func hashString(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// Conflicts reports whether two fleet lines make this process the same
// member (name and prefix) in two different ways: it can be that member
// only once.
func (c Config) Conflicts(o Config) bool {
	return c.Member == o.Member && c.Prefix == o.Prefix && c.key() != o.key()
}
