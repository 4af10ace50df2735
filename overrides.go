package failover

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// overrideAction is what an operator forces on a target.
type overrideAction uint8

const (
	overrideNone  overrideAction = iota
	overrideUp                   // counts as UP whatever its probes say
	overrideDown                 // counts as DOWN whatever its probes say
	overrideDrain                // never answered; still probed
)

var overrideNames = map[string]overrideAction{"up": overrideUp, "down": overrideDown, "drain": overrideDrain}

func (a overrideAction) String() string {
	for name, v := range overrideNames {
		if v == a {
			return name
		}
	}
	return "none"
}

// overrideRule is one line of the overrides file: POOL TARGET ACTION [REASON].
type overrideRule struct {
	pool, target string // glob patterns (path.Match)
	action       overrideAction
	reason       string
	line         int // in the overrides file
}

// matchesPool reports whether the rule's pool pattern matches one of a
// pool's names, with or without the final dot.
func (r overrideRule) matchesPool(names []string) bool {
	// r.pool is lower case, as pool names are.
	for _, name := range names {
		m1, _ := path.Match(r.pool, name)
		m2, _ := path.Match(r.pool, strings.TrimSuffix(name, "."))
		if m1 || m2 {
			return true
		}
	}
	return false
}

// overrideSet is a parsed overrides file. Later lines win.
type overrideSet struct {
	rules []overrideRule
	sum   [sha256.Size]byte
}

// lookup returns the action of the last rule matching the pool (by any of
// its names, with or without the final dot) and target.
func (o *overrideSet) lookup(names []string, target string) (overrideAction, string) {
	if o == nil {
		return overrideNone, ""
	}
	for i := len(o.rules) - 1; i >= 0; i-- {
		r := o.rules[i]
		if ok, _ := path.Match(r.target, target); ok && r.matchesPool(names) {
			return r.action, r.reason
		}
	}
	return overrideNone, ""
}

// canonicalTarget writes an address pattern the way target labels are
// written (2001:DB8::A becomes 2001:db8::a); a glob stays as it is, in lower case.
func canonicalTarget(pattern string) string {
	if a, err := netip.ParseAddr(pattern); err == nil {
		return a.String()
	}
	return strings.ToLower(pattern)
}

// readOverrides reads an overrides file. A missing file means no overrides.
func readOverrides(file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// parseOverrides parses an overrides file's contents. The error names every
// malformed line.
func parseOverrides(file string, data []byte) (*overrideSet, error) {
	set := &overrideSet{sum: sha256.Sum256(data)}
	var problems []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			problems = append(problems, fmt.Sprintf("%s:%d: write 'POOL TARGET up|down|drain [reason]'", file, line))
			continue
		}
		action, ok := overrideNames[f[2]]
		_, errPool := path.Match(f[0], "")
		_, errTarget := path.Match(f[1], "")
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s:%d: action '%s' is not up, down or drain", file, line, f[2]))
		case errPool != nil || errTarget != nil:
			problems = append(problems, fmt.Sprintf("%s:%d: malformed glob pattern", file, line))
		default:
			set.rules = append(set.rules, overrideRule{pool: strings.ToLower(f[0]), target: canonicalTarget(f[1]), action: action, reason: strings.Join(f[3:], " "), line: line})
		}
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, fmt.Sprintf("%s: %v", file, err))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return set, nil
}

// overridesFile watches an overrides file and applies it to the pools.
type overridesFile struct {
	file     string
	interval time.Duration
	current  atomic.Pointer[overrideSet]
	badSum   [sha256.Size]byte // the malformed contents last reported
	pools    []string          // every pool name of the server block, for warnings

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// watch polls the file until ctx ends. Changed contents are applied;
// malformed contents are logged once, with their line numbers, and the last
// good state stays in force.
func (o *overridesFile) watch(ctx context.Context, apply func()) {
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		data, err := readOverrides(o.file)
		if err != nil {
			log.Errorf("Overrides file %s not read, the previous state stays in force: %v", o.file, err)
			continue
		}
		sum := sha256.Sum256(data)
		if sum == o.current.Load().sum || sum == o.badSum {
			continue
		}
		set, err := parseOverrides(o.file, data)
		if err != nil {
			o.badSum = sum
			log.Errorf("Overrides file not applied, the previous state stays in force: %v", err)
			continue
		}
		o.current.Store(set)
		log.Infof("Overrides file %s applied: %d rules", o.file, len(set.rules))
		o.warnUnmatched(set)
		apply()
	}
}

// warnUnmatched logs each rule whose pool pattern matches no pool of the
// server block: most likely a misspelt name, which overrides nothing.
func (o *overridesFile) warnUnmatched(set *overrideSet) {
	for _, r := range set.rules {
		if r.matchesPool(o.pools) {
			continue
		}
		names := o.pools
		if len(names) > 5 {
			names = append(slices.Clip(names[:5]), "...")
		}
		log.Warningf("%s:%d - overrides rule for pool '%s' matches no pool of this server block, so it overrides nothing: write one of its pool names (%s) or a pattern that matches one",
			o.file, r.line, r.pool, strings.Join(names, " "))
	}
}
