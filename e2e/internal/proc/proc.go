// Package proc runs CoreDNS processes for the fleet's demo and benchmark:
// what e2e/replicas does for tests, without a testing.TB. Each process
// runs from a Corefile in a directory of its own, in a process group of its
// own (killed with the program should that die first), with its output
// kept.
package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// StartTimeout bounds how long Start and Restart wait for CoreDNS to
// answer DNS.
const StartTimeout = 60 * time.Second

// CoreDNS is one CoreDNS process (and, after Restart, its successor).
type CoreDNS struct {
	Name string
	Dir  string // holds its Corefile
	DNS  string // 127.0.0.1:PORT, where it serves DNS (UDP and TCP)

	args []string
	out  *output

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has exited
	err  error         // Wait's, once done
}

// Start runs binary with corefile (written to dir/Corefile), which must
// serve DNS on dnsAddr, and returns once it does: its log shows CoreDNS's
// version, which CoreDNS prints once its servers listen (so not with
// -quiet), and it answers a query. Every line it writes goes to
// lines, if not nil, as well as to its log (see Log).
func Start(name, binary, dir, corefile, dnsAddr string, lines func(name, line string)) (*CoreDNS, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(conf, []byte(corefile), 0o644); err != nil {
		return nil, err
	}
	c := &CoreDNS{Name: name, Dir: dir, DNS: dnsAddr, args: []string{binary, "-conf", conf}, out: &output{name: name, lines: lines}}
	if err := c.launch(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *CoreDNS) launch() error {
	from := len(c.Log())
	cmd := exec.Command(c.args[0], c.args[1:]...)
	cmd.Dir = c.Dir
	cmd.Stdout, cmd.Stderr = c.out, c.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s (run 'make coredns'): %w", c.args[0], err)
	}
	done := make(chan struct{})
	c.mu.Lock()
	c.cmd, c.done, c.err = cmd, done, nil
	c.mu.Unlock()
	go func() {
		err := cmd.Wait()
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(done)
	}()
	deadline := time.Now().Add(StartTimeout)
	for time.Now().Before(deadline) {
		if c.Exited() {
			return fmt.Errorf("CoreDNS %s exited (%v): %s", c.Name, c.exitErr(), c.out.last())
		}
		if started.MatchString(c.Log()[from:]) && c.serves() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Kill()
	return fmt.Errorf("CoreDNS %s did not answer on %s within %s: %s", c.Name, c.DNS, StartTimeout, c.out.last())
}

// started matches the line CoreDNS prints once its servers listen (a
// process that failed to listen, the port being taken, prints none).
var started = regexp.MustCompile(`(?m)^CoreDNS-`)

// serves reports whether the process answers a DNS query (any answer).
func (c *CoreDNS) serves() bool {
	m := new(dns.Msg)
	m.SetQuestion("serving.invalid.", dns.TypeA)
	client := &dns.Client{Timeout: 200 * time.Millisecond}
	_, _, err := client.Exchange(m, c.DNS)
	return err == nil
}

// Restart runs the process again with the same Corefile, after Kill or
// Stop, and returns once it answers.
func (c *CoreDNS) Restart() error {
	if !c.Exited() {
		return fmt.Errorf("CoreDNS %s still runs", c.Name)
	}
	return c.launch()
}

// PID is the running process's id.
func (c *CoreDNS) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd.Process.Pid
}

// Exited reports whether the process has exited.
func (c *CoreDNS) Exited() bool {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func (c *CoreDNS) exitErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Kill kills the process (SIGKILL, to its process group) and waits for it:
// a crash. Killing an exited process does nothing.
func (c *CoreDNS) Kill() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Stop asks CoreDNS to shut down (SIGTERM: a fleet member leaves, revoking
// its lease) and waits for it, killing it after 10 s.
func (c *CoreDNS) Stop() error {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if c.Exited() {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		c.Kill()
		return fmt.Errorf("CoreDNS %s did not exit within 10s of SIGTERM; killed", c.Name)
	}
}

// Log is everything the process (and its predecessors) wrote.
func (c *CoreDNS) Log() string { return c.out.String() }

// Tail is the end of the log, for error messages.
func (c *CoreDNS) Tail(n int) string {
	log := c.Log()
	if len(log) > n {
		log = "..." + log[len(log)-n:]
	}
	return log
}

// LookupA asks the process for name's A records over UDP (timeout 1 s)
// and returns the addresses in answer order, or the rcode's name when it
// is not NOERROR.
func (c *CoreDNS) LookupA(name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	client := &dns.Client{Timeout: time.Second}
	r, _, err := client.Exchange(m, c.DNS)
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, errors.New(dns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out, nil
}

// Addr joins 127.0.0.1 and port.
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", fmt.Sprint(port)) }

// output keeps a process's output and hands each whole line to lines.
type output struct {
	name  string
	lines func(name, line string)

	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	tail    string // the last non-empty line
}

var _ io.Writer = (*output)(nil)

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all.Write(b)
	o.partial = append(o.partial, b...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(o.partial[:i])
		o.partial = o.partial[i+1:]
		if strings.TrimSpace(line) != "" {
			o.tail = line
		}
		if o.lines != nil {
			o.lines(o.name, line)
		}
	}
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.all.String()
}

// last is the last line written, or the unfinished one: CoreDNS's fatal
// errors are its last words.
func (o *output) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if rest := strings.TrimSpace(string(o.partial)); rest != "" {
		return rest
	}
	if o.tail == "" {
		return "no output"
	}
	return o.tail
}

// Scrape reads the named metrics (unlabelled ones, or one series given
// with its labels as the exposition shows it, e.g.
// `coredns_failover_fleet_mode{mode="fleet"}`) from a Prometheus endpoint.
// Missing ones are absent from the map.
func Scrape(url string, names ...string) (map[string]float64, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") || !want[line[:i]] {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}
