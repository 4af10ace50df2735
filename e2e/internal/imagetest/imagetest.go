// Package imagetest gives tests the container image: built once by make
// image and shared with the tests' children in network namespaces, and
// run with podman where podman can run containers.
package imagetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/failover-dns/failover/internal/netns"
)

// Image names the image the tests build, apart from an operator's.
const Image = "coredns-failover-test:latest"

// Epoch stamps the tests' builds, so that two of them compare.
const Epoch = "1763800000"

// RepoRoot is the repository, three levels above this package.
var RepoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}()

// archiveEnv hands the archive to the tests' children in network
// namespaces (netns.Own), so that they do not build it again.
const archiveEnv = "FAILOVER_TEST_IMAGE_ARCHIVE"

// built is the archive make image wrote, once for a test binary.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Archive runs make image once and returns the archive's path.
func Archive(t testing.TB) string {
	t.Helper()
	if path := os.Getenv(archiveEnv); path != "" {
		return path
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "failover-image")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "image.oci.tar")
		built.err = Make(built.path, Epoch)
	})
	if built.err != nil {
		t.Fatalf("make image: %v", built.err)
	}
	return built.path
}

// Share builds the archive and hands it to the test's children: call it
// before netns.Own.
func Share(t *testing.T) {
	t.Helper()
	if os.Getenv(archiveEnv) == "" {
		t.Setenv(archiveEnv, Archive(t))
	}
}

// Cleanup removes what Archive built: call it from TestMain after the
// tests ran.
func Cleanup() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// Make runs make image into path, stamped with epoch.
func Make(path, epoch string) error {
	cmd := exec.Command("make", "-C", RepoRoot, "image", "IMAGE="+Image, "IMAGE_ARCHIVE="+path, "SOURCE_DATE_EPOCH="+epoch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

// NeedsPodman skips the test without podman, unless CI is set (.ci/run
// installs it), where it fails.
func NeedsPodman(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("podman is missing: .ci/run installs it (Debian packages podman and runc)")
		}
		t.Skip("Needs podman (Debian packages podman and runc) to run the image")
	}
}

// PodmanInOwnNetNS readies a test that runs the image with podman in a
// network namespace of its own (netns.Own): it skips without podman, or
// the ip command; in the parent it builds the archive and returns false
// (the parent returns); in the child it loads the image and returns podman.
func PodmanInOwnNetNS(t *testing.T) (*Podman, bool) {
	t.Helper()
	NeedsPodman(t)
	netns.Needs(t, "ip")
	Share(t)
	if !netns.Own(t) {
		return nil, false
	}
	return LoadPodman(t), true
}

// Podman runs containers of the image.
type Podman struct {
	// flags are how podman runs a container here, ending with "run".
	flags []string
}

// LoadPodman loads the archive into podman (removed when the test ends)
// and finds how podman runs a container here: as it is, or with runc,
// cgroupfs and rlimits no higher than this process's (sandboxes with
// hybrid cgroups, or without the right to raise limits, refuse podman's
// defaults). It skips the test when neither runs the image.
func LoadPodman(t *testing.T) *Podman {
	t.Helper()
	p := &Podman{flags: []string{"run"}}
	p.Must(t, "load", "-i", Archive(t))
	t.Cleanup(func() { p.Must(t, "rmi", "-f", Image) })
	var nofile, nproc syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile)
	syscall.Getrlimit(6 /* RLIMIT_NPROC */, &nproc)
	procs := min(nproc.Cur/2, 4096)
	limited := []string{"--runtime", "runc", "--cgroup-manager", "cgroupfs", "run",
		"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile.Cur, nofile.Cur),
		"--ulimit", fmt.Sprintf("nproc=%d:%d", procs, procs)}
	var why []string
	for _, flags := range [][]string{{"run"}, limited} {
		p.flags = flags
		out, err := p.Output("run", "--rm", "--network", "host", Image, "-version")
		if err == nil && strings.Contains(out, "CoreDNS-") {
			if len(why) > 0 {
				t.Logf("podman runs containers here only with %q:\n%s", flags, why[0])
			}
			return p
		}
		why = append(why, fmt.Sprintf("podman %s: %v: %s", strings.Join(p.args("run"), " "), err, strings.TrimSpace(out)))
	}
	t.Skipf("podman cannot run containers on this machine:\n%s", strings.Join(why, "\n"))
	return nil
}

// args splices the run flags in when args start with run.
func (p *Podman) args(args ...string) []string {
	if len(args) > 0 && args[0] == "run" {
		return append(append([]string{}, p.flags...), args[1:]...)
	}
	return args
}

// Output runs podman with args and returns what it printed.
func (p *Podman) Output(args ...string) (string, error) {
	out, err := exec.Command("podman", p.args(args...)...).CombinedOutput()
	return string(out), err
}

// Must runs podman with args, failing the test if it fails.
func (p *Podman) Must(t *testing.T, args ...string) {
	t.Helper()
	if out, err := p.Output(args...); err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(p.args(args...), " "), err, out)
	}
}

// Start runs a detached container named name with args (podman run's,
// after "run"); the test's cleanup shows its log if the test failed and
// removes it.
func (p *Podman) Start(t *testing.T, name string, args ...string) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := p.Output("logs", name)
			t.Logf("podman logs %s:\n%s", name, out)
		}
		p.Output("rm", "-f", name)
	})
	p.Must(t, append([]string{"run", "-d", "--name", name}, args...)...)
}
