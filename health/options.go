package health

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/failover-dns/failover/internal/suggest"
)

// Option is one line of a check's option block: a name and its arguments.
type Option struct {
	Name string
	Args []string
	Line int // Corefile line, for error messages
}

// LineError is a configuration error tied to a Corefile line.
type LineError struct {
	Line int
	Msg  string
}

func (e *LineError) Error() string { return e.Msg }

// ErrorLine returns the Corefile line an error from NewCheck refers to, or 0.
func ErrorLine(err error) int {
	var le *LineError
	if errors.As(err, &le) {
		return le.Line
	}
	return 0
}

// options hands out a check's option lines to the probe that understands
// them and reports those nobody took.
type options struct {
	list  []Option
	used  []bool
	asked []string // every name a probe looked for, in order: the options that apply
}

func newOptions(list []Option) *options {
	return &options{list: list, used: make([]bool, len(list))}
}

func (o *options) errf(opt Option, format string, args ...any) error {
	return &LineError{Line: opt.Line, Msg: fmt.Sprintf(format, args...)}
}

// all returns every line with this name, marking them used.
func (o *options) all(name string) []Option {
	if !slices.Contains(o.asked, name) {
		o.asked = append(o.asked, name)
	}
	var out []Option
	for i, opt := range o.list {
		if opt.Name == name {
			o.used[i] = true
			out = append(out, opt)
		}
	}
	return out
}

// one returns the single line with this name; given twice is an error.
func (o *options) one(name string) (Option, bool, error) {
	found := o.all(name)
	switch len(found) {
	case 0:
		return Option{}, false, nil
	case 1:
		return found[0], true, nil
	}
	return Option{}, false, o.errf(found[1], "'%s' is given twice in this check (first at line %d): keep one", name, found[0].Line)
}

// str returns the single argument of an option, with \n, \r, \t and \\ unescaped.
func (o *options) str(name, usage string) (string, bool, error) {
	opt, ok, err := o.one(name)
	if !ok || err != nil {
		return "", false, err
	}
	if len(opt.Args) != 1 {
		return "", false, o.errf(opt, "%s takes one argument: write '%s' (quote it if it has spaces)", name, usage)
	}
	return unescape(opt.Args[0]), true, nil
}

func (o *options) flag(name string) (bool, error) {
	opt, ok, err := o.one(name)
	if !ok || err != nil {
		return false, err
	}
	if len(opt.Args) != 0 {
		return false, o.errf(opt, "%s takes no argument: write '%s' alone", name, name)
	}
	return true, nil
}

func (o *options) integer(name string, lo, hi int) (int, bool, error) {
	opt, ok, err := o.one(name)
	if !ok || err != nil {
		return 0, false, err
	}
	if len(opt.Args) != 1 {
		return 0, false, o.errf(opt, "%s takes one number from %d to %d", name, lo, hi)
	}
	n, err := strconv.Atoi(opt.Args[0])
	if err != nil || n < lo || n > hi {
		return 0, false, o.errf(opt, "%s '%s' is not a whole number from %d to %d", name, opt.Args[0], lo, hi)
	}
	return n, true, nil
}

// percent reads a whole percentage from lo% to hi%, written with its sign.
func (o *options) percent(name string, lo, hi int) (int, bool, error) {
	opt, ok, err := o.one(name)
	if !ok || err != nil {
		return 0, false, err
	}
	if len(opt.Args) != 1 {
		return 0, false, o.errf(opt, "%s takes one percentage from %d%% to %d%%: write e.g. '%s 20%%'", name, lo, hi, name)
	}
	digits, isPct := strings.CutSuffix(opt.Args[0], "%")
	n, err := strconv.Atoi(digits)
	if err != nil || n < lo || n > hi {
		return 0, false, o.errf(opt, "%s '%s' is not a percentage from %d%% to %d%%: write e.g. '%s 20%%'", name, opt.Args[0], lo, hi, name)
	}
	if !isPct {
		return 0, false, o.errf(opt, "%s '%s' needs its percent sign: write '%s %d%%'", name, opt.Args[0], name, n)
	}
	return n, true, nil
}

func (o *options) duration(name string) (time.Duration, bool, error) {
	opt, ok, err := o.one(name)
	if !ok || err != nil {
		return 0, false, err
	}
	if len(opt.Args) != 1 {
		return 0, false, o.errf(opt, "%s takes one duration: write e.g. '%s 250ms'", name, name)
	}
	d, err := time.ParseDuration(opt.Args[0])
	if err != nil || d <= 0 {
		return 0, false, o.errf(opt, "%s '%s' is not a positive duration: write a number with a unit, e.g. 250ms", name, opt.Args[0])
	}
	return d, true, nil
}

// unused reports the first option no probe took, with the options that
// apply (those the probe looked for), the closest of them if the name looks
// mistyped, or else the schemes the option belongs to.
func (o *options) unused(scheme string) error {
	for i, opt := range o.list {
		if o.used[i] {
			continue
		}
		msg := fmt.Sprintf("check option '%s' does not apply to %s checks", opt.Name, scheme)
		valid := strings.Join(o.asked, ", ")
		if near := suggest.Closest(opt.Name, o.asked); near != "" {
			return o.errf(opt, "%s: did you mean '%s'? (%s checks take %s)", msg, near, scheme, valid)
		}
		if others := schemesTaking(opt.Name); len(others) > 0 {
			msg += fmt.Sprintf(", only to %s checks", joinAnd(others))
		}
		if len(o.asked) == 1 {
			return o.errf(opt, "%s: their only option is %s", msg, valid)
		}
		return o.errf(opt, "%s: write one of %s", msg, valid)
	}
	return nil
}

// joinAnd writes "a", "a and b" or "a, b and c".
func joinAnd(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\n`, "\n", `\r`, "\r", `\t`, "\t", `\\`, `\`).Replace(s)
}
