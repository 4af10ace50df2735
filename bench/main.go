//go:build linux

// Command bench measures failover: query throughput against the hosts
// plugin, detection and restore times with the default pool settings, and
// probing estates of 10,000 to 100,000 targets (issue 10). It talks only to
// loopback and ends every load by count and time. Run it through 'make
// bench', which builds ./coredns and pins processes to cores.
//
//	bench throughput|detect|scale -coredns ./coredns
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/failover-dns/failover/internal/loopback"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench throughput|detect|scale|backend [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	binary := fs.String("coredns", "./coredns", "CoreDNS binary built with failover")
	coreCPU := fs.String("coredns-cpu", "0", "CPU list CoreDNS is pinned to (taskset); empty: no pinning. The scale run uses every CPU unless told")
	clientCPU := fs.String("client-cpu", "1", "CPU list dnsperf is pinned to; empty: no pinning")
	rounds := fs.Int("rounds", 10, "detect: SIGKILL/restart rounds")
	stopRounds := fs.Int("stop-rounds", 5, "detect: SIGSTOP/SIGCONT rounds")
	seconds := fs.Int("seconds", 8, "throughput: seconds per dnsperf run")
	runs := fs.Int("runs", 3, "throughput: alternations of pool and static runs")
	targets := fs.Int("targets", 0, "scale: targets of every estate run instead of its own (a multiple of 4; for diagnosis: the targets of issue 10 are held against the estates' own sizes)")
	only := fs.String("only", "", "scale: comma-separated estates to run (tcp10k,http10k,tcp100k,http20k); empty: all")
	addr := fs.String("addr", "", "backend: address to serve HTTP on")
	profiles := fs.String("profiles", "", "scale: directory for CPU and heap profiles of CoreDNS")
	fs.Parse(args)

	if cmd == "scale" && !flagSet(fs, "coredns-cpu") {
		// Probing is background work spread over the machine, as in a real
		// deployment; pinning it and the queries to one core measures the Go
		// scheduler on GOMAXPROCS=1 instead.
		*coreCPU = ""
	}
	env := &bench{binary: *binary, coreCPU: *coreCPU, clientCPU: *clientCPU}
	var err error
	switch cmd {
	case "throughput":
		err = env.throughput(*runs, time.Duration(*seconds)*time.Second)
	case "detect":
		err = env.detect(*rounds, *stopRounds)
	case "scale":
		err = env.scale(*profiles, *only, *targets)
	case "backend":
		err = serveBackend(*addr)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

type bench struct {
	binary    string
	coreCPU   string
	clientCPU string
}

// pinned prefixes a command with taskset when a CPU list is given. The
// child is killed if the benchmark dies, so that no CoreDNS outlives it and
// skews the next run.
func pinned(cpus string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if cpus != "" {
		cmd = exec.Command("taskset", append([]string{"-c", cpus, name}, args...)...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// coredns is a CoreDNS process started from a Corefile.
type coredns struct {
	cmd  *exec.Cmd
	addr string // DNS address on 127.0.0.1
	dir  string
}

func (b *bench) startCoreDNS(corefile string, dnsPort int) (*coredns, error) {
	dir, err := os.MkdirTemp("", "failover-bench")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(conf, []byte(corefile), 0o644); err != nil {
		return nil, err
	}
	cmd := pinned(b.coreCPU, b.binary, "-conf", conf, "-quiet")
	logf, err := os.Create(filepath.Join(dir, "coredns.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (run 'make coredns'): %w", b.binary, err)
	}
	c := &coredns{cmd: cmd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(dnsPort)), dir: dir}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := loopback.LookupA(c.addr, "bench.invalid."); err == nil {
			return c, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "coredns.log"))
	c.stop()
	return nil, fmt.Errorf("CoreDNS did not answer within 60s (%v):\n%s", cmd.ProcessState, log)
}

// logTail returns the end of CoreDNS's output, for error messages.
func (c *coredns) logTail() string {
	log, _ := os.ReadFile(filepath.Join(c.dir, "coredns.log"))
	if len(log) > 4000 {
		log = log[len(log)-4000:]
	}
	return string(log)
}

// pid is CoreDNS's own process id (taskset execs it in place).
func (c *coredns) pid() int { return c.cmd.Process.Pid }

func (c *coredns) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(c.dir)
}

// holdListener accepts TCP connections on addr, writes greeting (if any)
// and keeps each open until the peer closes it.
func holdListener(addr string, greeting func(net.Conn) []byte) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if greeting != nil {
					if g := greeting(c); g != nil {
						c.Write(g)
					}
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln, nil
}

// serveBackend is the killable primary of the detection benchmark.
func serveBackend(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	return http.Serve(ln, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
}

// startBackendProcess runs 'bench backend' and waits until it listens.
func startBackendProcess(addr string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "backend", "-addr", addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "listening\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("backend on %s did not start: %q %v", addr, line, err)
	}
	return cmd, nil
}

// waitAnswer polls name every 10 ms until it answers exactly want.
func waitAnswer(server, name string, limit time.Duration, want ...string) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		if got, err := loopback.LookupA(server, name); err == nil && slices.Equal(got, want) {
			return time.Since(start), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s did not answer %v within %s", name, want, limit)
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}

func summary(ds []time.Duration) string {
	s := sorted(ds)
	return fmt.Sprintf("median %s  p95 %s  max %s  (n=%d)",
		quantile(s, .5).Round(time.Millisecond), quantile(s, .95).Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond), len(s))
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "MISSED"
}

func randomPhase(max time.Duration) { time.Sleep(rand.N(max)) }
