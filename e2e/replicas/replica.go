// Package replicas runs CoreDNS replicas for end-to-end tests: several
// processes of the CoreDNS built with failover (see Binary), each from its
// own Corefile in its own directory, with its log captured; and Backend,
// an HTTP server for their health checks that counts the probes of each
// replica.
//
// A replica's environment names what sets it apart, for the Corefile's
// {$VAR} substitution, so that replicas can share one Corefile text:
// REPLICA (its name), DNS_HOST and DNS_PORT (where it should serve DNS),
// and a free port for each name in Options.Ports. For example:
//
//	example.org:{$DNS_PORT} {
//	    bind {$DNS_HOST}
//	    whoami
//	}
package replicas

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/loopback"

	"github.com/miekg/dns"
)

// StartTimeout bounds how long Start waits for CoreDNS to serve, and
// Reload for a reload's outcome.
const StartTimeout = 20 * time.Second

// Options are a replica's optional settings.
type Options struct {
	// Env adds NAME=value variables to the replica's environment.
	Env []string
	// Ports names variables that each get a free port on the loopback
	// (e.g. "STATUS_PORT"): see Replica.Port.
	Ports []string
	// NetNS runs the replica inside a network namespace: a name runs it
	// with 'ip netns exec NAME', a path (/proc/PID/ns/net, see
	// netns.Peer.Path) with 'nsenter --net=PATH'.
	NetNS string
	// Host is DNS_HOST, the address the replica's DNS is reached at;
	// default 127.0.0.1.
	Host string
}

// Replica is one CoreDNS process (and, after Restart, its successor).
type Replica struct {
	Name string
	Dir  string // its working directory, holding its Corefile
	// DNS is DNS_HOST:DNS_PORT, where Query sends queries.
	DNS string

	t     testing.TB
	args  []string
	env   []string
	log   *logBuffer
	ports map[string]int

	mu   sync.Mutex
	proc *process // the latest
}

// process is one run of the replica's command.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
	err  error         // Wait's, once done
}

// Start starts a replica named name from corefile and returns once it
// serves (its log shows CoreDNS's version, which it prints once its
// servers listen). It fails the test if CoreDNS exits or takes longer
// than StartTimeout. The test's cleanup kills it if it still runs, and
// shows its log if the test failed.
func Start(t testing.TB, name, corefile string, opts Options) *Replica {
	t.Helper()
	bin := Binary(t)
	r := &Replica{Name: name, Dir: t.TempDir(), t: t, log: &logBuffer{}, ports: map[string]int{}}
	if err := os.WriteFile(r.corefile(), []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	ports, err := loopback.FreePorts(1 + len(opts.Ports))
	if err != nil {
		t.Fatal(err)
	}
	r.DNS = net.JoinHostPort(host, strconv.Itoa(ports[0]))
	r.env = append(os.Environ(), "REPLICA="+name, "DNS_HOST="+host, "DNS_PORT="+strconv.Itoa(ports[0]))
	for i, v := range opts.Ports {
		r.ports[v] = ports[1+i]
		r.env = append(r.env, v+"="+strconv.Itoa(ports[1+i]))
	}
	r.env = append(r.env, opts.Env...)
	r.args = []string{bin, "-conf", r.corefile()}
	switch {
	case opts.NetNS == "":
	case strings.Contains(opts.NetNS, "/"):
		r.args = append([]string{"nsenter", "--net=" + opts.NetNS, "--"}, r.args...)
	default:
		r.args = append([]string{"ip", "netns", "exec", opts.NetNS}, r.args...)
	}
	t.Cleanup(func() {
		r.Kill()
		if t.Failed() {
			t.Logf("Replica %s's log:\n%s", name, r.Log())
		}
	})
	r.launch()
	return r
}

// launch runs the replica's command and waits for it to serve.
func (r *Replica) launch() {
	r.t.Helper()
	from := r.log.Len()
	p := &process{cmd: exec.Command(r.args[0], r.args[1:]...), done: make(chan struct{})}
	p.cmd.Dir = r.Dir
	p.cmd.Env = r.env
	p.cmd.Stdout, p.cmd.Stderr = r.log, r.log
	// A process group of its own, for Kill; and killed with the test
	// process should that die first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		r.t.Fatalf("Starting replica %s: %v", r.Name, err)
	}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	pid := p.cmd.Process.Pid
	register(pid, r)
	go func() {
		p.err = p.cmd.Wait()
		unregister(pid)
		close(p.done)
	}()
	if _, err := r.waitLog(regexp.MustCompile(`^CoreDNS-`), from, StartTimeout); err != nil {
		r.t.Fatalf("Replica %s did not start: %v\n%s", r.Name, err, r.Log())
	}
}

// Restart starts the replica again, after Kill or Stop, with the same
// Corefile (as the last Reload left it), environment and addresses; it
// returns once it serves. Its log goes on in the same buffer.
func (r *Replica) Restart() {
	r.t.Helper()
	if !r.Exited() {
		r.t.Fatalf("Replica %s: Restart while it runs (Kill or Stop it first)", r.Name)
	}
	r.launch()
}

func (r *Replica) current() *process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

func (r *Replica) corefile() string { return filepath.Join(r.Dir, "Corefile") }

// Port is the free port chosen for a name of Options.Ports.
func (r *Replica) Port(name string) int {
	p, ok := r.ports[name]
	if !ok {
		r.t.Fatalf("Replica %s has no port named %s (Options.Ports)", r.Name, name)
	}
	return p
}

// PID is the process's id (CoreDNS's: ip netns exec and nsenter exec it).
func (r *Replica) PID() int { return r.current().cmd.Process.Pid }

// Log is everything the replica has written to stdout and stderr.
func (r *Replica) Log() string { return r.log.String() }

// LogLen is the log's length so far: an offset for WaitLogFrom.
func (r *Replica) LogLen() int { return r.log.Len() }

// WaitLog waits up to limit for a line of the log matching pattern (a
// regular expression) and returns the first such line; it fails the test
// if none comes.
func (r *Replica) WaitLog(pattern string, limit time.Duration) string {
	r.t.Helper()
	return r.WaitLogFrom(0, pattern, limit)
}

// WaitLogFrom is WaitLog for lines from byte offset from on (see LogLen):
// lines logged after some event.
func (r *Replica) WaitLogFrom(from int, pattern string, limit time.Duration) string {
	r.t.Helper()
	line, err := r.waitLog(regexp.MustCompile(pattern), from, limit)
	if err != nil {
		r.t.Fatalf("Replica %s: %v\n%s", r.Name, err, r.Log())
	}
	return line
}

// waitLog waits for a line matching re in the log from byte offset from
// on. It gives up early if the process exits without one.
func (r *Replica) waitLog(re *regexp.Regexp, from int, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	p := r.current()
	for {
		exited := p.exited() // before reading: what it wrote before exiting is there
		if line, ok := matchLine(r.log.String()[from:], re); ok {
			return line, nil
		}
		if exited {
			return "", fmt.Errorf("exited (%v) with no log line matching %q", p.err, re)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no log line matching %q within %s", re, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// matchLine finds the first whole line of log matching re.
func matchLine(log string, re *regexp.Regexp) (string, bool) {
	for line := range strings.Lines(log) {
		if !strings.HasSuffix(line, "\n") {
			break // being written
		}
		if re.MatchString(line) {
			return strings.TrimSuffix(line, "\n"), true
		}
	}
	return "", false
}

// Reload replaces the Corefile and sends SIGUSR1, on which CoreDNS reads
// it again (as the reload plugin would on a change); it waits for the
// outcome CoreDNS logs and returns the error it logged if the new
// Corefile was refused (the old configuration then keeps serving).
func (r *Replica) Reload(corefile string) error {
	from := r.log.Len()
	if err := os.WriteFile(r.corefile(), []byte(corefile), 0o644); err != nil {
		return err
	}
	if err := r.current().cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return err
	}
	line, err := r.waitLog(regexp.MustCompile(`\[INFO\] Reloading complete|\[ERROR\] Restart failed`), from, StartTimeout)
	if err != nil {
		return fmt.Errorf("replica %s: reload: %w", r.Name, err)
	}
	if strings.Contains(line, "Restart failed") {
		return errors.New(line)
	}
	return nil
}

// Exited reports whether the process has exited.
func (r *Replica) Exited() bool { return r.current().exited() }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill kills the process (SIGKILL, to its process group) and waits for it
// to exit: a crash.
func (r *Replica) Kill() {
	p := r.current()
	if p == nil {
		return
	}
	if !p.exited() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-p.done
}

// Stop asks CoreDNS to shut down (SIGTERM) and waits for it to exit,
// killing it after 10s. It returns the process's error, if it exited
// with a failure (or had to be killed).
func (r *Replica) Stop() error {
	p := r.current()
	if p.exited() {
		return p.err
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(10 * time.Second):
		r.Kill()
		return fmt.Errorf("replica %s did not exit within 10s of SIGTERM; killed", r.Name)
	}
}

var client = map[string]*dns.Client{
	"udp": {Net: "udp", Timeout: 2 * time.Second},
	"tcp": {Net: "tcp", Timeout: 2 * time.Second},
}

// Query asks the replica for name's records of type qtype over proto,
// "udp" or "tcp".
func (r *Replica) Query(name string, qtype uint16, proto string) (*dns.Msg, error) {
	c, ok := client[proto]
	if !ok {
		return nil, fmt.Errorf("query over %q: want udp or tcp", proto)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	reply, _, err := c.Exchange(m, r.DNS)
	return reply, err
}

// logBuffer collects a process's output.
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	b.mu.Unlock()
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func (b *logBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf)
}
