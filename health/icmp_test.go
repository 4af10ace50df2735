package health

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func ms(n ...float64) []time.Duration {
	var out []time.Duration
	for _, v := range n {
		out = append(out, time.Duration(v*float64(time.Millisecond)))
	}
	return out
}

// TestEchoRulesJudge: loss, jitter and the round's RTT from recorded
// echoes, limits included (exactly at max_loss or max_jitter passes).
func TestEchoRulesJudge(t *testing.T) {
	noLimit := echoRules{maxLoss: 100}
	for _, tc := range []struct {
		name   string
		rules  echoRules
		round  echoRound
		reason string // "" for a pass
		detail string
		rtt    time.Duration // of a pass
	}{
		{"count 1 answered", noLimit, echoRound{1, ms(3)}, "", "", 3 * time.Millisecond},
		{"count 1 lost", noLimit, echoRound{1, nil}, ReasonTimeout, "no echo reply", 0},
		{"all lost", echoRules{maxLoss: 20}, echoRound{3, nil}, ReasonTimeout, "no echo reply to any of 3 echoes", 0},
		{"all lost, no max_loss", noLimit, echoRound{5, nil}, ReasonTimeout, "no echo reply to any of 5 echoes", 0},
		{"one answer is enough without max_loss", noLimit, echoRound{5, ms(4)}, "", "", 4 * time.Millisecond},
		{"none lost", echoRules{maxLoss: 0}, echoRound{3, ms(1, 2, 3)}, "", "", 2 * time.Millisecond},
		{"loss over max_loss", echoRules{maxLoss: 20}, echoRound{5, ms(1, 2)}, ReasonLoss, "lost 3 of 5 echoes (60%), max_loss 20%", 0},
		{"loss exactly at max_loss", echoRules{maxLoss: 20}, echoRound{5, ms(1, 2, 3, 6)}, "", "", 3 * time.Millisecond},
		{"loss just over max_loss", echoRules{maxLoss: 20}, echoRound{5, ms(1, 2, 3)}, ReasonLoss, "lost 2 of 5 echoes (40%), max_loss 20%", 0},
		{"one lost, max_loss 0%", echoRules{maxLoss: 0}, echoRound{10, ms(1, 1, 1, 1, 1, 1, 1, 1, 1)}, ReasonLoss, "lost 1 of 10 echoes (10%), max_loss 0%", 0},
		{"inexact share shows decimals", echoRules{maxLoss: 33}, echoRound{3, ms(1, 1)}, ReasonLoss, "lost 1 of 3 echoes (33.3%), max_loss 33%", 0},
		{"max_loss 99%, one of 100 answered", echoRules{maxLoss: 99}, echoRound{100, ms(7)}, "", "", 7 * time.Millisecond},
		{"jitter over max_jitter", echoRules{maxLoss: 100, maxJitter: 5 * time.Millisecond}, echoRound{5, ms(10, 20, 10, 20, 10)},
			ReasonJitter, "jitter 10ms over max_jitter 5ms (5 of 5 echoes answered)", 0},
		{"jitter exactly at max_jitter", echoRules{maxLoss: 100, maxJitter: 10 * time.Millisecond}, echoRound{5, ms(10, 20, 10, 20, 10)},
			"", "", 14 * time.Millisecond},
		{"jitter skips a lost echo", echoRules{maxLoss: 100, maxJitter: 10 * time.Millisecond}, echoRound{4, ms(10, 30, 20)},
			ReasonJitter, "jitter 15ms over max_jitter 10ms (3 of 4 echoes answered)", 0},
		{"one answer: jitter not judged", echoRules{maxLoss: 100, maxJitter: time.Nanosecond}, echoRound{3, ms(9)}, "", "", 9 * time.Millisecond},
		{"steady but slow: jitter passes", echoRules{maxLoss: 100, maxJitter: time.Millisecond}, echoRound{3, ms(100, 100.5, 100)}, "", "", 100166666},
		{"loss is judged before jitter", echoRules{maxLoss: 25, maxJitter: time.Millisecond}, echoRound{4, ms(1, 50)},
			ReasonLoss, "lost 2 of 4 echoes (50%), max_loss 25%", 0},
	} {
		r := tc.rules.judge(tc.round)
		switch {
		case r.OK != (tc.reason == "") || r.Reason != tc.reason || r.Detail != tc.detail:
			t.Errorf("%s: got %+v, want reason %q, detail %q", tc.name, r, tc.reason, tc.detail)
		case r.RTT != tc.rtt:
			t.Errorf("%s: RTT %s, want %s (the mean of the answered echoes)", tc.name, r.RTT, tc.rtt)
		}
	}
}

func TestEchoJitter(t *testing.T) {
	for _, tc := range []struct {
		rtts []time.Duration
		want time.Duration
		ok   bool
	}{
		{nil, 0, false},
		{ms(5), 0, false},
		{ms(5, 5), 0, true},
		{ms(1, 3), 2 * time.Millisecond, true},
		{ms(3, 1), 2 * time.Millisecond, true},
		{ms(1, 2, 4, 1), 2 * time.Millisecond, true}, // (1 + 2 + 3) / 3
	} {
		if got, ok := echoJitter(tc.rtts); got != tc.want || ok != tc.ok {
			t.Errorf("echoJitter(%v) = %s, %v; want %s, %v", tc.rtts, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPercentOf(t *testing.T) {
	for _, tc := range []struct {
		part, whole int
		want        string
	}{
		{0, 5, "0"}, {3, 5, "60"}, {1, 3, "33.3"}, {2, 3, "66.7"}, {65, 97, "67.01"}, {5, 5, "100"},
	} {
		if got := percentOf(tc.part, tc.whole); got != tc.want {
			t.Errorf("percentOf(%d, %d) = %q, want %q", tc.part, tc.whole, got, tc.want)
		}
	}
}

// TestICMPOptions: count, max_loss and max_jitter, good and bad, and the
// timeout the echoes' spacing must fit in.
func TestICMPOptions(t *testing.T) {
	for _, tc := range []struct {
		opts    []string
		timeout time.Duration
		want    icmpProber // of a good check
		err     string     // the start of the error, "" for none
		line    int
	}{
		{nil, time.Second, icmpProber{count: 1, rules: echoRules{maxLoss: 100}}, "", 0},
		{[]string{"count 5"}, time.Second, icmpProber{count: 5, rules: echoRules{maxLoss: 100}}, "", 0},
		{[]string{"count 5", "max_loss 20%", "max_jitter 5ms"}, time.Second, icmpProber{count: 5, rules: echoRules{maxLoss: 20, maxJitter: 5 * time.Millisecond}}, "", 0},
		{[]string{"max_jitter 5ms", "max_loss 0%", "count 2"}, time.Second, icmpProber{count: 2, rules: echoRules{maxLoss: 0, maxJitter: 5 * time.Millisecond}}, "", 0},
		{[]string{"count 2", "max_loss 49%"}, time.Second, icmpProber{count: 2, rules: echoRules{maxLoss: 49}}, "", 0},
		{[]string{"count 5", "max_loss 79%"}, time.Second, icmpProber{count: 5, rules: echoRules{maxLoss: 79}}, "", 0},
		{[]string{"count 100"}, 5 * time.Second, icmpProber{count: 100, rules: echoRules{maxLoss: 100}}, "", 0},
		{[]string{"count 40"}, 2 * time.Second, icmpProber{count: 40, rules: echoRules{maxLoss: 100}}, "", 0},
		{[]string{"count 1"}, 10 * time.Millisecond, icmpProber{count: 1, rules: echoRules{maxLoss: 100}}, "", 0},

		{[]string{"count 0"}, time.Second, icmpProber{}, "count '0' is not a whole number from 1 to 100", 1},
		{[]string{"count 101"}, time.Minute, icmpProber{}, "count '101' is not a whole number from 1 to 100", 1},
		{[]string{"max_latency 5ms", "count three"}, time.Second, icmpProber{}, "count 'three' is not a whole number from 1 to 100", 2},
		{[]string{"count"}, time.Second, icmpProber{}, "count takes one number from 1 to 100", 1},
		{[]string{"count 3", "count 4"}, time.Second, icmpProber{}, "'count' is given twice in this check (first at line 1): keep one", 2},
		{[]string{"count 41"}, 2 * time.Second, icmpProber{},
			"count 41 sends its last echo 2s after the first (echoes go 50ms apart), which is not within the timeout 2s: write count 40 or less, or a pool timeout above 2s", 1},
		{[]string{"max_loss 10%", "count 3"}, 100 * time.Millisecond, icmpProber{},
			"count 3 sends its last echo 100ms after the first (echoes go 50ms apart), which is not within the timeout 100ms: write count 2 or less, or a pool timeout above 100ms", 2},
		{[]string{"count 2"}, 50 * time.Millisecond, icmpProber{}, "count 2 sends its last echo 50ms after the first (echoes go 50ms apart), which is not within the timeout 50ms: write count 1 or less", 1},
		{[]string{"max_loss 20%"}, time.Second, icmpProber{}, "max_loss 20% needs count 2 or more: one echo is answered or lost, and a round with every echo lost fails anyway; add e.g. 'count 5'", 1},
		{[]string{"count 2", "max_loss 50%"}, time.Second, icmpProber{},
			"max_loss 50% never fails a round of count 2: losing 1 of 2 echoes is 50%, within it, and losing all already fails; write max_loss 49% or less, or a larger count", 2},
		{[]string{"count 3", "max_loss 67%"}, time.Second, icmpProber{},
			"max_loss 67% never fails a round of count 3: losing 2 of 3 echoes is 66.7%, within it, and losing all already fails; write max_loss 66% or less, or a larger count", 2},
		{[]string{"count 5", "max_loss 100%"}, time.Second, icmpProber{}, "max_loss '100%' is not a percentage from 0% to 99%: write e.g. 'max_loss 20%'", 2},
		{[]string{"count 5", "max_loss -1%"}, time.Second, icmpProber{}, "max_loss '-1%' is not a percentage from 0% to 99%", 2},
		{[]string{"count 5", "max_loss 2.5%"}, time.Second, icmpProber{}, "max_loss '2.5%' is not a percentage from 0% to 99%", 2},
		{[]string{"count 5", "max_loss 20"}, time.Second, icmpProber{}, "max_loss '20' needs its percent sign: write 'max_loss 20%'", 2},
		{[]string{"count 5", "max_loss 20% 30%"}, time.Second, icmpProber{}, "max_loss takes one percentage from 0% to 99%: write e.g. 'max_loss 20%'", 2},
		{[]string{"max_jitter 5ms"}, time.Second, icmpProber{}, "max_jitter 5ms needs count 2 or more: jitter compares the round-trip times of consecutive echoes; add e.g. 'count 5'", 1},
		{[]string{"count 5", "max_jitter 0s"}, time.Second, icmpProber{}, "max_jitter '0s' is not a positive duration", 2},
		{[]string{"count 5", "max_jitter 5"}, time.Second, icmpProber{}, "max_jitter '5' is not a positive duration: write a number with a unit, e.g. 250ms", 2},
		{[]string{"count 5", "max_jitter 1s"}, time.Second, icmpProber{}, "max_jitter 1s must be shorter than the timeout 1s: echoes answered within it never differ by that much", 2},
		{[]string{"count 5", "max_latency 1s"}, time.Second, icmpProber{}, "max_latency 1s must be shorter than the timeout 1s", 2},
	} {
		c, err := NewCheck(CheckConfig{URL: "icmp://gw.example.org", Options: opts(tc.opts...), Timeout: tc.timeout})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%v (timeout %s): got error %v, want none", tc.opts, tc.timeout, err)
		case tc.err == "":
			p := c.prober.(*icmpProber)
			if p.count != tc.want.count || p.rules != tc.want.rules || p.timeout != tc.timeout {
				t.Errorf("%v (timeout %s): got count %d, %+v, timeout %s; want count %d, %+v", tc.opts, tc.timeout, p.count, p.rules, p.timeout, tc.want.count, tc.want.rules)
			}
		case err == nil || !strings.HasPrefix(err.Error(), tc.err):
			t.Errorf("%v (timeout %s): got error %v, want one starting %q", tc.opts, tc.timeout, err, tc.err)
		case ErrorLine(err) != tc.line:
			t.Errorf("%v (timeout %s): error at line %d, want %d", tc.opts, tc.timeout, ErrorLine(err), tc.line)
		}
	}
}

// resultProber returns the same result to every probe.
type resultProber struct{ r Result }

func (p resultProber) Probe(context.Context, netip.AddrPort) Result { return p.r }
func (p resultProber) Close()                                       {}

// TestMaxLatencyICMP: for icmp, max_latency limits the echoes' mean
// round-trip time, not the round's duration (which includes the spacing
// between echoes); other checks keep limiting the duration.
func TestMaxLatencyICMP(t *testing.T) {
	spaced := Result{OK: true, Duration: 220 * time.Millisecond, RTT: 2 * time.Millisecond} // count 5
	slowEcho := Result{OK: true, Duration: 260 * time.Millisecond, RTT: 60 * time.Millisecond}
	for _, tc := range []struct {
		scheme string
		r      Result
		detail string // "" for a pass
	}{
		{"icmp", spaced, ""},
		{"icmp", slowEcho, "slower than max_latency 50ms: mean echo round trip 60ms"},
		{"tcp", spaced, "slower than max_latency 50ms: 220ms"},
	} {
		c := &Check{name: tc.scheme + "://www.example.org", scheme: tc.scheme, prober: resultProber{tc.r}, maxLatency: 50 * time.Millisecond, timeout: time.Second}
		r := c.Probe(context.Background(), loopback, 0)
		if tc.detail == "" && !r.OK {
			t.Errorf("%s %+v: failed with %s, want a pass", tc.scheme, tc.r, r.Detail)
		}
		if tc.detail != "" && (r.OK || r.Reason != ReasonSlow || r.Detail != tc.detail) {
			t.Errorf("%s %+v: got %+v, want reason slow, detail %q", tc.scheme, tc.r, r, tc.detail)
		}
	}
}
