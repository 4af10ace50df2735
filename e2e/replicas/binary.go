package replicas

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// BinaryEnv names a CoreDNS binary to use instead of building one.
const BinaryEnv = "FAILOVER_COREDNS"

var (
	buildOnce  sync.Once
	binaryPath string
	buildErr   error
)

// Binary is the CoreDNS built with failover that replicas run: the file
// $FAILOVER_COREDNS names, or else the repository's ./coredns, which
// 'make coredns' builds. The latter is brought up to date once per test
// process with the Makefile's command ('go build -o coredns ./plugin' in the
// root module, which leaves an up-to-date binary untouched), under a lock
// that test processes building at once share. go build replaces the file
// rather than writing into it, so replicas already running it are safe.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { binaryPath, buildErr = build() })
	if buildErr != nil {
		t.Fatalf("No CoreDNS binary for the replicas: %v", buildErr)
	}
	return binaryPath
}

func build() (string, error) {
	if path := os.Getenv(BinaryEnv); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s: %w", BinaryEnv, err)
		}
		return filepath.Abs(path)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(root))
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "failover-coredns-"+hex.EncodeToString(sum[:6])+".lock"),
		os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	cmd := exec.Command("go", "build", "-o", "coredns", "./plugin")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -o coredns ./plugin in %s: %v\n%s", root, err, out)
	}
	return filepath.Join(root, "coredns"), nil
}

// moduleRoot is the root module's directory, which the e2e module's go.mod
// replaces it with.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/failover-dns/failover").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%v: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("finding the failover module: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(dir, "plugin", "main.go")); err != nil {
		return "", fmt.Errorf("the failover module in %s has no plugin/main.go: %w", dir, err)
	}
	return dir, nil
}
