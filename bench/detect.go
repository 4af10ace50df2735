//go:build linux

package main

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/failover-dns/failover/internal/loopback"
)

// Detection settings: fall 2 with a 100 ms fast interval; the interval only
// matters for the blackhole case. The timeout is no longer than the fast
// interval, so that a blackholed target's failing probes fit the schedule.
const (
	detInterval = time.Second
	detTimeout  = 100 * time.Millisecond
	detFast     = 100 * time.Millisecond
	detFall     = 2
	detPoll     = 10 * time.Millisecond
)

// detect kills (SIGKILL) and restarts a primary HTTP backend process at
// random phases of its probe schedule and measures how long the answers
// take to move away and back; then the same with the primary frozen
// (SIGSTOP: it accepts nothing and answers nothing) instead of killed.
func (b *bench) detect(rounds int) error {
	backendPort, err := loopback.FreePort()
	if err != nil {
		return err
	}
	port := strconv.Itoa(backendPort)
	secondary, err := net.Listen("tcp", "127.0.0.2:"+port)
	if err != nil {
		return err
	}
	go http.Serve(secondary, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer secondary.Close()
	primaryAddr := "127.0.0.1:" + port
	primary, err := startBackendProcess(primaryAddr)
	if err != nil {
		return err
	}
	defer func() { primary.Process.Kill(); primary.Wait() }()

	dnsPort, err := loopback.FreePort()
	if err != nil {
		return err
	}
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    failover example.org {
        pool www.example.org {
            target 127.0.0.1
            target 127.0.0.2 priority 2
            check http://www.example.org:%s/health
            interval %s
            timeout %s
            fast_interval %s
            fall %d
            rise 2
            ttl 1
        }
    }
}
`, dnsPort, port, detInterval, detTimeout, detFast, detFall)
	c, err := b.startCoreDNS(corefile, dnsPort)
	if err != nil {
		return err
	}
	defer c.stop()
	const name = "www.example.org."
	if _, err := waitAnswer(c.addr, name, 10*time.Second, "127.0.0.1"); err != nil {
		return err
	}
	fmt.Printf("Detection: primary HTTP backend process, interval %s, timeout %s, fast_interval %s, fall %d, polled every 10 ms\n",
		detInterval, detTimeout, detFast, detFall)

	var killed, killRestore, holed, holeRestore []time.Duration
	for i := range rounds {
		randomPhase(detInterval)
		primary.Process.Signal(syscall.SIGKILL)
		primary.Wait()
		d, err := waitAnswer(c.addr, name, 30*time.Second, "127.0.0.2")
		if err != nil {
			return fmt.Errorf("kill round %d: %w", i+1, err)
		}
		killed = append(killed, d)
		if primary, err = startBackendProcess(primaryAddr); err != nil {
			return err
		}
		if d, err = waitAnswer(c.addr, name, 30*time.Second, "127.0.0.1"); err != nil {
			return fmt.Errorf("kill round %d restore: %w", i+1, err)
		}
		killRestore = append(killRestore, d)
	}
	fmt.Printf("  SIGKILL   detection: %s\n", summary(killed))
	fmt.Printf("  SIGKILL   restore:   %s\n", summary(killRestore))

	blackholeRounds := max(rounds/2, 1)
	for i := range blackholeRounds {
		randomPhase(detInterval)
		primary.Process.Signal(syscall.SIGSTOP)
		d, err := waitAnswer(c.addr, name, 30*time.Second, "127.0.0.2")
		if err != nil {
			return fmt.Errorf("blackhole round %d: %w", i+1, err)
		}
		holed = append(holed, d)
		primary.Process.Signal(syscall.SIGCONT)
		if d, err = waitAnswer(c.addr, name, 30*time.Second, "127.0.0.1"); err != nil {
			return fmt.Errorf("blackhole round %d restore: %w", i+1, err)
		}
		holeRestore = append(holeRestore, d)
	}
	bound := detInterval + detTimeout + (detFall-1)*detFast
	// The schedule has ±5 % jitter and the answer is polled every 10 ms.
	slackBound := bound + detInterval/20 + detPoll
	fmt.Printf("  blackhole detection: %s\n", summary(holed))
	fmt.Printf("  blackhole restore:   %s\n", summary(holeRestore))

	ks := sorted(killed)
	fmt.Printf("  target SIGKILL median <= 200ms: %s; p95 <= 400ms: %s\n",
		verdict(quantile(ks, .5) <= 200*time.Millisecond), verdict(quantile(ks, .95) <= 400*time.Millisecond))
	worst := sorted(holed)[len(holed)-1]
	fmt.Printf("  target blackhole within interval + timeout + (fall-1) x fast_interval = %s (%s with the 5%% schedule jitter and the 10 ms poll): %s (max %s)\n",
		bound, slackBound, verdict(worst <= slackBound), worst.Round(time.Millisecond))
	return nil
}

func sorted(ds []time.Duration) []time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s
}
