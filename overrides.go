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

	"github.com/failover-dns/failover/internal/smallfile"
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

// overridesMaxSize is the largest overrides file read: a file of rules an
// operator writes is a few kilobytes, and a larger one is refused from its
// size alone, never read.
const overridesMaxSize = 1 << 20

// checkOverridesInfo refuses what is not an overrides file: anything but a
// regular file of at most overridesMaxSize (see smallfile.Check).
func checkOverridesInfo(file string, info os.FileInfo) error {
	if err := smallfile.Check(info, overridesMaxSize); err != nil {
		return overridesFileError(file, err)
	}
	return nil
}

// overridesFileError says what to do about a file that is no overrides file.
func overridesFileError(file string, err error) error {
	return fmt.Errorf("%q %v: name a regular file of at most %d bytes, with only the rules in force (write it to a temporary file, then rename it over this name)",
		file, err, overridesMaxSize)
}

// statOverrides returns what the overrides file is, nil when it does not
// exist, or an error when it is not a file to read.
func statOverrides(file string) (os.FileInfo, error) {
	info, err := os.Stat(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return info, checkOverridesInfo(file, info)
}

// readOverrides reads an overrides file opened with open, and returns what
// it was when read (nil: it does not exist, which means no overrides).
func readOverrides(file string, open func(string) (*os.File, error)) (os.FileInfo, []byte, error) {
	f, err := open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, data, err := smallfile.ReadOpened(f, overridesMaxSize)
	if err != nil {
		return nil, nil, overridesFileError(file, err)
	}
	return info, data, nil
}

// sameFile reports whether two looks at the overrides file (nil: absent)
// found the same version of it: the same inode, size and modification time.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
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
//
// A changed file is applied only once two consecutive polls read the same
// contents: a file rewritten in place (truncated, then written, as 'cat >
// file' does) is read half-written by a poll that falls in between, and
// applying that would lift overrides for an interval. A writer that takes
// longer than an interval is still seen in parts; writing a temporary file
// and renaming it over the name never is.
type overridesFile struct {
	file     string
	interval time.Duration
	current  atomic.Pointer[overrideSet]
	pools    []string                       // every pool name of the server block, for warnings
	open     func(string) (*os.File, error) // nil: smallfile.Open

	// Owned by the polling goroutine (and load, before it starts):
	seen    os.FileInfo       // the file as last read (nil: absent)
	seenSum [sha256.Size]byte // the contents last read
	pending bool              // seenSum awaits a second read that agrees before it is applied
	badSum  [sha256.Size]byte // the malformed contents last reported
	lastErr string            // the read error last logged, so that a repeated one is logged once

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// load reads and parses the file when the Corefile loads, and puts it in
// force. The error names the file and what is wrong with it.
func (o *overridesFile) load() error {
	if _, err := statOverrides(o.file); err != nil {
		return fmt.Errorf("overrides file: %v", err)
	}
	info, data, err := readOverrides(o.file, o.opener())
	if err != nil {
		return fmt.Errorf("overrides file: %v", err)
	}
	set, err := parseOverrides(o.file, data)
	if err != nil {
		return fmt.Errorf("overrides file is malformed: %v", err)
	}
	o.seen, o.seenSum = info, set.sum
	o.current.Store(set)
	return nil
}

func (o *overridesFile) opener() func(string) (*os.File, error) {
	if o.open != nil {
		return o.open
	}
	return smallfile.Open
}

// watch polls the file every interval until ctx ends, and calls apply
// when a changed file was put in force.
func (o *overridesFile) watch(ctx context.Context, apply func()) {
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if o.poll() {
			apply()
		}
	}
}

// poll looks at the file once and reports whether it put new contents in
// force: contents that differ from those in force and that the previous
// poll read too. An unchanged file (same inode, size and modification time)
// is not read again, unless contents await that second read. Errors are
// logged once each, and malformed contents once, with their line numbers;
// the state in force stays.
func (o *overridesFile) poll() bool {
	data, err := o.readChanged()
	if err != nil {
		o.report(err)
		return false
	}
	o.lastErr = ""
	if data == nil && !o.pending {
		return false // unchanged
	}
	sum := sha256.Sum256(data)
	confirmed := o.pending && sum == o.seenSum
	o.seenSum = sum
	o.pending = sum != o.current.Load().sum && sum != o.badSum
	if !confirmed || !o.pending {
		return false
	}
	o.pending = false
	set, err := parseOverrides(o.file, data)
	if err != nil {
		o.badSum = sum
		log.Errorf("Overrides file not applied, the previous state stays in force: %v", err)
		return false
	}
	o.current.Store(set)
	log.Infof("Overrides file %q applied: %d rules", o.file, len(set.rules))
	o.warnUnmatched(set)
	return true
}

// readChanged reads the file when it changed since it was last read, or
// when contents await their second read: nil when it did not (an absent or
// empty file reads as empty, not nil).
func (o *overridesFile) readChanged() ([]byte, error) {
	info, err := statOverrides(o.file)
	if err != nil || (!o.pending && sameFile(info, o.seen)) {
		return nil, err
	}
	info, data, err := readOverrides(o.file, o.opener())
	if err != nil {
		return nil, err
	}
	o.seen = info
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// report logs a read error, unless it is the one logged last.
func (o *overridesFile) report(err error) {
	if msg := err.Error(); msg != o.lastErr {
		o.lastErr = msg
		log.Errorf("Overrides file not read, the previous state stays in force: %v", err)
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
