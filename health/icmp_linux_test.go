package health

import (
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/netns"
)

// TestICMPAllLost: in a network namespace of its own, whose kernel then
// ignores echo requests, a round of three echoes to loopback fails as a
// timeout that names the count. The same round passes before.
func TestICMPAllLost(t *testing.T) {
	if !canUseRawICMP() {
		t.Skip("Needs raw ICMP sockets (root or CAP_NET_RAW)")
	}
	if !netns.Own(t) {
		return
	}
	addrs := []string{"127.0.0.1"}
	if netns.HasSysctl("net.ipv6.icmp.echo_ignore_all") {
		addrs = append(addrs, "::1")
	} else {
		t.Log("This kernel has no net.ipv6.icmp.echo_ignore_all: IPv4 only")
	}
	cfg := CheckConfig{URL: "icmp://www.example.org", Options: opts("count 3"), Timeout: 300 * time.Millisecond}
	for _, addr := range addrs {
		if r := probeAt(t, netip.MustParseAddr(addr), cfg); !r.OK {
			t.Fatalf("Echoes to %s before ignoring them: got %+v, want a pass", addr, r)
		}
	}
	netns.Sysctl(t, "net.ipv4.icmp_echo_ignore_all", "1")
	if len(addrs) > 1 {
		netns.Sysctl(t, "net.ipv6.icmp.echo_ignore_all", "1")
	}
	for _, addr := range addrs {
		r := probeAt(t, netip.MustParseAddr(addr), cfg)
		if want := "timed out after 300ms: no echo reply to any of 3 echoes"; r.OK || r.Reason != ReasonTimeout || r.Detail != want {
			t.Errorf("Echoes to %s, ignored: got %+v, want reason timeout, detail %q", addr, r, want)
		}
	}
}

var lostEchoes = regexp.MustCompile(`^lost (\d+) of 10 echoes \(\d+%\), max_loss 20%$`)

// TestICMPPartialLoss: some echoes of a round lost, and max_loss refusing
// the round. There is no netem here to drop packets; instead the peer's
// kernel rate-limits its echo replies (net.ipv4.icmp_ratemask with bit 0,
// echo reply). The limit is a token bucket per destination that holds 6
// messages (the kernel's XRLIM_BURST_FACTOR) and refills one per
// icmp_ratelimit ms: with 10s, 6 of 10 echoes sent within half a second are
// answered and 4 lost. Loopback is exempt from ICMP rate limits, hence the
// veth pair into a second namespace. The bound asserted is loose (3 to 9
// lost, enough for max_loss 20% to refuse, not all); the round without the
// limit must lose none.
func TestICMPPartialLoss(t *testing.T) {
	if !canUseRawICMP() {
		t.Skip("Needs raw ICMP sockets (root or CAP_NET_RAW)")
	}
	netns.Needs(t, "nsenter", "sleep")
	if !netns.Own(t) {
		return
	}
	peer := netns.NewPeer(t, "169.254.0.1/30", "169.254.0.2/30")
	remote := netip.MustParseAddr("169.254.0.2")
	cfg := func(maxLoss string) CheckConfig {
		return CheckConfig{URL: "icmp://www.example.org", Options: opts("count 10", "max_loss "+maxLoss), Timeout: time.Second}
	}
	if r := probeAt(t, remote, cfg("0%")); !r.OK {
		t.Fatalf("Echoes over the veth pair without a rate limit: got %+v, want all 10 answered", r)
	}
	peer.Sysctl(t, "net.ipv4.icmp_ratelimit", "10000")
	peer.Sysctl(t, "net.ipv4.icmp_ratemask", "1") // echo replies only
	r := probeAt(t, remote, cfg("20%"))
	t.Logf("Rate-limited round: %+v", r)
	m := lostEchoes.FindStringSubmatch(r.Detail)
	if r.OK || r.Reason != ReasonLoss || m == nil {
		t.Fatalf("Echoes with rate-limited replies: got %+v, want reason loss, detail matching %s", r, lostEchoes)
	}
	if lost, _ := strconv.Atoi(m[1]); lost < 3 || lost > 9 {
		t.Errorf("Lost %d of 10 echoes, want 3 to 9 (4 expected: a burst of 6 answered)", lost)
	}
}
