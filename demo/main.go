// Command demo runs CoreDNS with failover in front of three local HTTP
// backends, shows the answers move when the primary backend stops and come
// back when it returns, then lets you stop and start backends by hand.
//
//	go run ./demo -coredns ./coredns
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/failover-dns/failover/internal/demobackend"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/failover-dns/failover/internal/loopback"
)

const name = "www.example.org."

func main() {
	binary := flag.String("coredns", "./coredns", "CoreDNS binary built with failover (make coredns)")
	dnsPort := flag.Int("dns-port", 1053, "port for CoreDNS on 127.0.0.1; 0 picks a free one")
	once := flag.Bool("once", false, "run the scripted failover and exit, without the interactive part")
	flag.Parse()
	if err := run(*binary, *dnsPort, *once); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(binary string, dnsPort int, once bool) error {
	backends, httpPort, err := demobackend.StartAll()
	if err != nil {
		return err
	}
	defer func() {
		for _, b := range backends {
			b.Stop()
		}
	}()
	if dnsPort == 0 {
		if dnsPort, err = loopback.FreePort(); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "failover-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	readyPort, err := loopback.FreePort()
	if err != nil {
		return err
	}
	statusPort, err := loopback.FreePort()
	if err != nil {
		return err
	}
	corefile := fmt.Sprintf(`example.org:%d {
    bind 127.0.0.1
    ready 127.0.0.1:%d
    failover {
        status 127.0.0.1:%d
        pool www.example.org {
            target 127.0.0.1
            target 127.0.0.2 priority 2
            target 127.0.0.3 priority 3
            check http://www.example.org:%d/health
            interval 1s
            timeout 500ms
            rise 2
            fall 2
            ttl 5
        }
    }
}
`, dnsPort, readyPort, statusPort, httpPort)
	conf := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(conf, []byte(corefile), 0o644); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := exec.CommandContext(ctx, binary, "-conf", conf)
	out := &prefixWriter{prefix: "coredns | "}
	cmd.Stdout, cmd.Stderr = out, out // one writer: one copying goroutine, lines in order
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s (run 'make coredns' first): %w", binary, err)
	}
	// When CoreDNS exits on its own (a port in use, a bad Corefile), every
	// wait below ends at once with its last words as the error.
	ctx, exited := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := cmd.Wait()
		if ctx.Err() == nil {
			exited(fmt.Errorf("CoreDNS exited (%v): %s", err, out.last()))
		}
	}()
	defer func() {
		exited(nil) // we stop it: not an error
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
	}()

	server := net.JoinHostPort("127.0.0.1", strconv.Itoa(dnsPort))
	fmt.Printf("\nCorefile:\n%s\n", corefile)
	fmt.Printf("Demo backends (HTTP, /health) on %s port %d.\n", strings.Join(demobackend.IPs, ", "), httpPort)
	statusURL := fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", statusPort)
	fmt.Printf("Status page (live): http://127.0.0.1:%d/\n", statusPort)
	fmt.Printf("Try:\n  dig @127.0.0.1 -p %d www.example.org A\n  dig @127.0.0.1 -p %d www.example.org MX\n  curl %s\n\n", dnsPort, dnsPort, statusURL)

	step := func(what string, want string) error {
		start := time.Now()
		got, err := waitFor(ctx, server, want, 20*time.Second)
		if err != nil {
			return fmt.Errorf("%s: %w", what, errOr(ctx, err))
		}
		fmt.Printf("%-40s www.example.org A %s  (after %s; status: %s)\n", what, strings.Join(got, " "), time.Since(start).Round(10*time.Millisecond), poolMode(statusURL))
		return nil
	}
	// The ready plugin says when every target has its first verdict.
	if err := waitReady(ctx, statusURL, readyPort, 20*time.Second); err != nil {
		return errOr(ctx, err)
	}
	if err := step("All backends up:", demobackend.IPs[0]); err != nil {
		return err
	}
	backends[0].Stop()
	if err := step("Primary 127.0.0.1 stopped:", demobackend.IPs[1]); err != nil {
		return err
	}
	backends[1].Stop()
	if err := step("Secondary 127.0.0.2 stopped too:", demobackend.IPs[2]); err != nil {
		return err
	}
	for _, b := range backends[:2] {
		if err := b.Start(); err != nil {
			return err
		}
	}
	if err := step("Both back:", demobackend.IPs[0]); err != nil {
		return err
	}
	if once {
		return nil
	}
	return errOr(ctx, interact(ctx, backends, server))
}

// errOr returns why ctx ended when CoreDNS exited by itself, else err.
func errOr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		return cause
	}
	return err
}

// interact toggles backends on command until EOF, q, or Ctrl-C.
func interact(ctx context.Context, backends []*demobackend.Backend, server string) error {
	fmt.Println("\nType 1, 2 or 3 and Enter to stop or start that backend, Enter alone to query, q to quit.")
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok || line == "q" {
				return nil
			}
			if n, err := strconv.Atoi(line); err == nil && n >= 1 && n <= len(backends) {
				b := backends[n-1]
				if b.Running() {
					b.Stop()
					fmt.Printf("Stopped backend %s\n", b.Addr)
				} else if err := b.Start(); err != nil {
					fmt.Println(err)
				} else {
					fmt.Printf("Started backend %s\n", b.Addr)
				}
			}
			got, err := loopback.LookupA(server, name)
			fmt.Printf("www.example.org A %v %v\n", got, errOrEmpty(err))
		}
	}
}

func errOrEmpty(err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}

// waitFor polls the server every 50 ms until it answers exactly want.
func waitFor(ctx context.Context, server, want string, limit time.Duration) ([]string, error) {
	deadline := time.Now().Add(limit)
	var got []string
	var err error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if got, err = loopback.LookupA(server, name); err == nil && len(got) == 1 && got[0] == want {
			return got, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("no answer %s within %s (last %v, %v)", want, limit, got, err)
}

// waitReady waits until CoreDNS is ready: every target has a verdict (the
// status API says so, quietly), then the ready plugin agrees. Asking /ready
// itself every few milliseconds would log "Plugins not ready" at each ask,
// and bury the failover under them on a newcomer's first screen.
func waitReady(ctx context.Context, statusURL string, readyPort int, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if everyTargetJudged(client, statusURL) && isReady(client, readyPort) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("CoreDNS not ready within %s", limit)
}

// everyTargetJudged reports whether the status API gives every target of
// every pool a state.
func everyTargetJudged(client *http.Client, statusURL string) bool {
	resp, err := client.Get(statusURL)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Pools []struct {
			Targets []struct {
				State string `json:"state"`
			} `json:"targets"`
		} `json:"pools"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body) != nil || len(body.Pools) == 0 {
		return false
	}
	for _, p := range body.Pools {
		for _, t := range p.Targets {
			if t.State == "unknown" || t.State == "" {
				return false
			}
		}
	}
	return true
}

// isReady reports whether the ready plugin answers 200.
func isReady(client *http.Client, port int) bool {
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/ready", port))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// prefixWriter copies a child's output to ours, line by line, with a prefix,
// and keeps the last line for an error message (CoreDNS's fatal errors are
// its last line).
type prefixWriter struct {
	prefix string
	mu     sync.Mutex
	buf    []byte
	tail   string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(p.buf[:i])
		p.buf = p.buf[i+1:]
		fmt.Println(p.prefix + line)
		if strings.TrimSpace(line) != "" {
			p.tail = line
		}
	}
}

// last returns the last line written, or an unfinished one.
func (p *prefixWriter) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rest := strings.TrimSpace(string(p.buf)); rest != "" {
		return rest
	}
	if p.tail == "" {
		return "no output"
	}
	return p.tail
}

// poolMode reads the pool's mode from the status API, or says why it could not.
func poolMode(url string) string {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var body struct {
		Pools []struct {
			Mode string `json:"mode"`
		} `json:"pools"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil || len(body.Pools) == 0 {
		return fmt.Sprintf("unreadable (%s, %v)", resp.Status, err)
	}
	return body.Pools[0].Mode
}
