//go:build linux

package main

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/failover-dns/failover/internal/loopback"
)

// The pool defaults of the README's Syntax section: the detection Corefile
// sets none of them, so that the figures are those a user gets without
// tuning. They only compute the bound printed beside the measurement.
const (
	defInterval = 5 * time.Second
	defTimeout  = 2 * time.Second
	defFast     = time.Second
	defFall     = 3
	detPoll     = 10 * time.Millisecond
	detName     = "www.example.org."
)

// detection is the detection benchmark's set-up: a primary HTTP backend in
// a process of its own, a secondary in this one, and CoreDNS between.
type detection struct {
	c           *coredns
	primary     *exec.Cmd
	primaryAddr string
}

// detect kills (SIGKILL) and restarts a primary HTTP backend process at
// random phases of its probe schedule and measures how long the answers
// take to move away and back; then the same with the primary frozen
// (SIGSTOP: it accepts nothing and answers nothing) instead of killed.
// Every pool setting that matters for detection keeps its default.
func (b *bench) detect(killRounds, stopRounds int) error {
	d, err := b.startDetection()
	if err != nil {
		return err
	}
	defer d.close()
	fmt.Printf("Detection: primary HTTP backend process, pool defaults (interval %s, timeout %s, fast_interval %s, fall %d, rise 2), polled every 10 ms\n",
		defInterval, defTimeout, defFast, defFall)

	killed, killRestore, err := d.rounds("SIGKILL", killRounds, syscall.SIGKILL)
	if err != nil {
		return err
	}
	fmt.Printf("  SIGKILL   detection: %s\n", summary(killed))
	fmt.Printf("    (rounds: %s)\n", roundList(killed))
	fmt.Printf("  SIGKILL   restore:   %s\n", summary(killRestore))
	holed, holeRestore, err := d.rounds("SIGSTOP", stopRounds, syscall.SIGSTOP)
	if err != nil {
		return err
	}
	fmt.Printf("  SIGSTOP   detection: %s\n", summary(holed))
	fmt.Printf("    (rounds: %s)\n", roundList(holed))
	fmt.Printf("  SIGSTOP   restore:   %s\n", summary(holeRestore))

	ks := sorted(killed)
	fmt.Printf("  SIGKILL median %s  target <= 200ms: %s\n", quantile(ks, .5).Round(time.Millisecond), verdict(quantile(ks, .5) <= 200*time.Millisecond))
	fmt.Printf("  SIGKILL p95    %s  target <= 300ms: %s\n", quantile(ks, .95).Round(time.Millisecond), verdict(quantile(ks, .95) <= 300*time.Millisecond))
	bound := defInterval + defTimeout + (defFall-1)*max(defFast, defTimeout)
	worst := sorted(holed)[len(holed)-1]
	fmt.Printf("  SIGSTOP max    %s  target <= interval + timeout + (fall-1) x max(fast_interval, timeout) = %s: %s\n",
		worst.Round(time.Millisecond), bound, verdict(worst <= bound))
	slack := bound + defInterval/20 + detPoll
	fmt.Printf("    (with the schedule's +-5%% jitter, %s on the interval, and the %s poll: %s: %s)\n", defInterval/20, detPoll, slack, verdict(worst <= slack))
	return nil
}

// startDetection starts the backends and CoreDNS, and waits for the
// primary's address in the answer.
func (b *bench) startDetection() (*detection, error) {
	backendPort, err := loopback.FreePort()
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(backendPort)
	secondary, err := net.Listen("tcp", "127.0.0.2:"+port)
	if err != nil {
		return nil, err
	}
	// The secondary lives as long as the benchmark process.
	go http.Serve(secondary, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	d := &detection{primaryAddr: "127.0.0.1:" + port}
	if d.primary, err = startBackendProcess(d.primaryAddr); err != nil {
		return nil, err
	}
	dnsPort, err := loopback.FreePort()
	if err != nil {
		d.close()
		return nil, err
	}
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    failover example.org {
        pool www.example.org {
            target 127.0.0.1
            target 127.0.0.2 priority 2
            check http://www.example.org:%s/health
            ttl 1
        }
    }
}
`, dnsPort, port)
	if d.c, err = b.startCoreDNS(corefile, dnsPort); err != nil {
		d.close()
		return nil, err
	}
	if _, err := waitAnswer(d.c.addr, detName, 20*time.Second, "127.0.0.1"); err != nil {
		d.close()
		return nil, err
	}
	// Until its first round a target counts as up, and that round alone
	// decides its state: a kill before it is seen at once, without the
	// watch or fall. First rounds come within min(interval, 5s).
	time.Sleep(min(defInterval, 5*time.Second) + time.Second)
	return d, nil
}

func (d *detection) close() {
	if d.primary != nil {
		d.primary.Process.Signal(syscall.SIGCONT)
		d.primary.Process.Kill()
		d.primary.Wait()
	}
	if d.c != nil {
		d.c.stop()
	}
}

// rounds takes the primary away with sig (SIGKILL: killed, then restarted;
// SIGSTOP: frozen, then continued) n times, at random phases of the probe
// interval, and returns how long the answer took to leave it and to return.
func (d *detection) rounds(name string, n int, sig syscall.Signal) (gone, back []time.Duration, err error) {
	for i := range n {
		randomPhase(defInterval)
		d.primary.Process.Signal(sig)
		if sig == syscall.SIGKILL {
			d.primary.Wait()
		}
		t, err := waitAnswer(d.c.addr, detName, 30*time.Second, "127.0.0.2")
		if err != nil {
			return nil, nil, fmt.Errorf("%s round %d: %w", name, i+1, err)
		}
		gone = append(gone, t)
		if sig == syscall.SIGKILL {
			if d.primary, err = startBackendProcess(d.primaryAddr); err != nil {
				return nil, nil, err
			}
		} else {
			d.primary.Process.Signal(syscall.SIGCONT)
		}
		if t, err = waitAnswer(d.c.addr, detName, 30*time.Second, "127.0.0.1"); err != nil {
			return nil, nil, fmt.Errorf("%s round %d restore: %w", name, i+1, err)
		}
		back = append(back, t)
	}
	return gone, back, nil
}

// roundList lists the rounds' durations in the order they ran.
func roundList(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Round(time.Millisecond).String()
	}
	return strings.Join(s, " ")
}

func sorted(ds []time.Duration) []time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s
}
