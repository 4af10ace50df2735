package health

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

// EchoSpacing is the time between the echo requests of one icmp round
// (count 2 or more). 50ms spreads the echoes over a few tenths of a second,
// so that loss and jitter sample more than one instant of the path, while
// count 5 still ends within a quarter of a second, well inside the default
// 2s timeout; it sends at most 20 echoes a second to a target, far below
// what hosts and routers rate-limit ICMP to (Linux's ping refuses intervals
// under 200ms only to unprivileged users, as flooding; 50ms is not that),
// so that the check does not cause the loss it measures.
const EchoSpacing = 50 * time.Millisecond

// MaxEchoCount is the largest count an icmp check takes: 100 echoes, 4.95s
// of spacing, already needs a timeout of 5s and an interval above that.
const MaxEchoCount = 100

// icmpProber is healthy when the target answers ICMP (or ICMPv6) echo
// requests: count of them, EchoSpacing apart, judged by echoRules. It uses
// pro-bing: raw ICMP sockets when the process may open them (root or
// CAP_NET_RAW), otherwise unprivileged datagram ICMP sockets, which Linux
// allows only to groups in net.ipv4.ping_group_range.
type icmpProber struct {
	privileged bool
	count      int
	rules      echoRules
	timeout    time.Duration // for a context without deadline
}

var (
	rawICMPOnce sync.Once
	rawICMP     bool
)

// canUseRawICMP reports whether this process may open raw ICMP sockets.
func canUseRawICMP() bool {
	rawICMPOnce.Do(func() {
		if c, err := net.ListenPacket("ip4:icmp", "127.0.0.1"); err == nil {
			c.Close()
			rawICMP = true
		}
	})
	return rawICMP
}

// newICMPProber reads count, max_loss and max_jitter. The pool's timeout
// must leave the last echo time to be sent: (count−1) × EchoSpacing must be
// shorter than it.
func newICMPProber(o *options, timeout time.Duration) (*icmpProber, error) {
	p := &icmpProber{privileged: canUseRawICMP(), count: 1, rules: echoRules{maxLoss: 100}, timeout: timeout}
	count, hasCount, err := o.integer("count", 1, MaxEchoCount)
	if err != nil {
		return nil, err
	}
	if hasCount {
		p.count = count
	}
	if spread := time.Duration(p.count-1) * EchoSpacing; spread >= timeout && p.count > 1 {
		opt := o.all("count")[0]
		most := int((timeout-1)/EchoSpacing) + 1
		return nil, o.errf(opt, "count %d sends its last echo %s after the first (echoes go %s apart), which is not within the timeout %s: write count %d or less, or a pool timeout above %s",
			p.count, spread, EchoSpacing, timeout, most, spread)
	}
	maxLoss, hasLoss, err := o.percent("max_loss", 0, 99)
	if err != nil {
		return nil, err
	}
	if hasLoss {
		if p.count == 1 {
			return nil, o.errf(o.all("max_loss")[0], "max_loss %d%% needs count 2 or more: one echo is answered or lost, and a round with every echo lost fails anyway; add e.g. 'count 5'", maxLoss)
		}
		if worst := 100 * (p.count - 1); maxLoss*p.count >= worst {
			return nil, o.errf(o.all("max_loss")[0], "max_loss %d%% never fails a round of count %d: losing %d of %d echoes is %s%%, within it, and losing all already fails; write max_loss %d%% or less, or a larger count",
				maxLoss, p.count, p.count-1, p.count, percentOf(p.count-1, p.count), (worst-1)/p.count)
		}
		p.rules.maxLoss = maxLoss
	}
	maxJitter, hasJitter, err := o.duration("max_jitter")
	if err != nil {
		return nil, err
	}
	if hasJitter {
		opt := o.all("max_jitter")[0]
		if p.count == 1 {
			return nil, o.errf(opt, "max_jitter %s needs count 2 or more: jitter compares the round-trip times of consecutive echoes; add e.g. 'count 5'", maxJitter)
		}
		if maxJitter >= timeout {
			return nil, o.errf(opt, "max_jitter %s must be shorter than the timeout %s: echoes answered within it never differ by that much", maxJitter, timeout)
		}
		p.rules.maxJitter = maxJitter
	}
	return p, nil
}

func (p *icmpProber) Probe(ctx context.Context, dst netip.AddrPort) Result {
	start := time.Now()
	pinger := probing.New("")
	addr := dst.Addr()
	pinger.SetIPAddr(&net.IPAddr{IP: net.IP(addr.AsSlice())})
	if addr.Is4() {
		pinger.SetNetwork("ip4")
	} else {
		pinger.SetNetwork("ip6")
	}
	pinger.SetPrivileged(p.privileged)
	// pro-bing logs an echo it fails to send after the first (the first
	// fails the probe) as "FATAL" on the standard logger, and carries on:
	// here that echo simply counts as lost, and the round's detail says so.
	pinger.SetLogger(probing.NoopLogger{})
	pinger.Count = p.count
	pinger.Interval = EchoSpacing
	pinger.RecordRtts, pinger.RecordTTLs = false, false
	pinger.Timeout = cmp.Or(p.timeout, time.Second)
	if deadline, ok := ctx.Deadline(); ok {
		pinger.Timeout = time.Until(deadline)
	}
	type reply struct {
		seq int
		rtt time.Duration
	}
	// OnRecv runs on the pinger's loop, which RunWithContext waits for;
	// duplicates are dropped before it.
	var replies []reply
	pinger.OnRecv = func(pkt *probing.Packet) { replies = append(replies, reply{pkt.Seq, pkt.Rtt}) }
	err := pinger.RunWithContext(ctx)
	if err != nil && !(errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil) {
		return failed(start, err)
	}
	// The deadline ends the wait for replies: echoes unanswered by then are
	// lost. The pinger numbers a round's echoes from 0, in the order sent.
	slices.SortFunc(replies, func(a, b reply) int { return cmp.Compare(a.seq, b.seq) })
	round := echoRound{count: p.count, rtts: make([]time.Duration, len(replies))}
	for i, r := range replies {
		round.rtts[i] = r.rtt
	}
	r := p.rules.judge(round)
	r.Duration = time.Since(start)
	return r
}

func (p *icmpProber) Close() {}

// echoRound is what one round of echo requests recorded.
type echoRound struct {
	count int             // echo requests in the round
	rtts  []time.Duration // round-trip times of those answered, in the order they were sent
}

// echoRules judge a round of echoes. The round fails
//   - as a timeout when no echo is answered;
//   - for loss when more than maxLoss percent of the echoes are lost (an
//     echo not answered within the timeout is lost);
//   - for jitter when the jitter of the answered echoes (see echoJitter) is above
//     maxJitter; with fewer than two answered, jitter is not judged.
//
// Otherwise it passes, with the mean round-trip time of the answered echoes
// as its RTT: that is also what max_latency limits (Check.Probe).
type echoRules struct {
	maxLoss   int           // percent; 100: only losing every echo fails
	maxJitter time.Duration // 0: not judged
}

// judge is the result of a round, without its Duration.
func (e echoRules) judge(r echoRound) Result {
	answered := len(r.rtts)
	lost := r.count - answered
	switch {
	case answered == 0 && r.count == 1:
		return Result{Reason: ReasonTimeout, Detail: "no echo reply"}
	case answered == 0:
		return Result{Reason: ReasonTimeout, Detail: fmt.Sprintf("no echo reply to any of %d echoes", r.count)}
	case lost*100 > e.maxLoss*r.count:
		return Result{Reason: ReasonLoss, Detail: fmt.Sprintf("lost %d of %d echoes (%s%%), max_loss %d%%",
			lost, r.count, percentOf(lost, r.count), e.maxLoss)}
	}
	if j, ok := echoJitter(r.rtts); ok && e.maxJitter > 0 && j > e.maxJitter {
		return Result{Reason: ReasonJitter, Detail: fmt.Sprintf("jitter %s over max_jitter %s (%d of %d echoes answered)",
			roundDuration(j), e.maxJitter, answered, r.count)}
	}
	return Result{OK: true, RTT: meanRTT(r.rtts)}
}

// echoJitter is the mean absolute difference between the round-trip times of
// consecutive answered echoes: |rtt₂−rtt₁|, |rtt₃−rtt₂|, ... averaged (RFC
// 3550's interarrival jitter without its smoothing, over one round; a lost
// echo between two answered ones is skipped). It needs two answered echoes;
// ok is false with fewer.
func echoJitter(rtts []time.Duration) (j time.Duration, ok bool) {
	if len(rtts) < 2 {
		return 0, false
	}
	var sum time.Duration
	for i := 1; i < len(rtts); i++ {
		d := rtts[i] - rtts[i-1]
		sum += max(d, -d)
	}
	return sum / time.Duration(len(rtts)-1), true
}

func meanRTT(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// percentOf writes part/whole as a percentage: "60", or with decimals when
// inexact, "33.3" (1 of 3), so that a share just above max_loss never reads
// as equal to it (a count of at most 100 keeps two decimals apart).
func percentOf(part, whole int) string {
	if part*100%whole == 0 {
		return strconv.Itoa(part * 100 / whole)
	}
	p := float64(part) * 100 / float64(whole)
	s := strconv.FormatFloat(p, 'f', 1, 64)
	if strings.HasSuffix(s, ".0") {
		s = strconv.FormatFloat(p, 'f', 2, 64)
	}
	return s
}
