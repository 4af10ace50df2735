package container

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/failover-dns/failover/internal/netns"
)

// TestImageInPodman follows the README's container section with podman:
// load the archive, write its Corefile, run its podman run line (on the
// host network, which is the test's own network namespace), and ask the
// server. It skips where podman is missing (and CI is not set: .ci/run
// installs it) or cannot run a container on this machine, saying why.
func TestImageInPodman(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("podman is missing: .ci/run installs it (Debian packages podman and runc)")
		}
		t.Skip("Needs podman (Debian packages podman and runc) to run the image")
	}
	netns.Needs(t, "ip")
	shareArchive(t)
	if !netns.Own(t) {
		return
	}
	section := readmeSection(t, "### A container image")
	podman(t, nil, "load", "-i", archive(t))
	t.Cleanup(func() { podman(t, nil, "rmi", "-f", testImage) })
	compat := runtimeFlags(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(readmeCorefile(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	listeners := backends(t)
	run := readmeRunLine(t, section, dir)
	name := run[indexOf(t, run, "--name")+1]
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("podman", "logs", name).CombinedOutput()
			t.Logf("podman logs %s:\n%s", name, out)
		}
		podman(t, nil, "rm", "-f", name)
	})
	podman(t, compat, run...)
	checkFailover(t, "127.0.0.1:53", listeners)
}

// readmeRunLine is the section's podman run line as arguments to podman,
// run in dir (for $PWD), naming the test's image and container.
func readmeRunLine(t *testing.T, section, dir string) []string {
	t.Helper()
	for _, block := range fenced(section, "sh") {
		for _, line := range strings.Split(block, "\n") {
			rest, ok := strings.CutPrefix(line, "podman run ")
			if !ok {
				continue
			}
			rest = strings.NewReplacer(`"$PWD`, dir, `:ro"`, ":ro", "coredns-failover:latest", testImage).Replace(rest)
			args := append([]string{"run"}, strings.Fields(rest)...)
			args[indexOf(t, args, "--name")+1] = fmt.Sprintf("failover-test-%d", os.Getpid())
			return args
		}
	}
	t.Fatal("The README's container section has no podman run line")
	return nil
}

// indexOf is the position of word in args.
func indexOf(t *testing.T, args []string, word string) int {
	t.Helper()
	for i, a := range args {
		if a == word {
			return i
		}
	}
	t.Fatalf("%q is not in %q", word, args)
	return -1
}

// runtimeFlags finds how podman runs a container here: as it is, or with
// runc, cgroupfs and rlimits no higher than this process's (sandboxes
// with hybrid cgroups, or without the right to raise limits, refuse
// podman's defaults). It skips the test when neither runs the image.
func runtimeFlags(t *testing.T) []string {
	t.Helper()
	var nofile, nproc syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile)
	syscall.Getrlimit(6 /* RLIMIT_NPROC */, &nproc)
	limited := []string{"--runtime", "runc", "--cgroup-manager", "cgroupfs", "run",
		"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile.Cur, nofile.Cur),
		"--ulimit", fmt.Sprintf("nproc=%d:%d", min(nproc.Cur/2, 4096), min(nproc.Cur/2, 4096))}
	var why []string
	for _, flags := range [][]string{{"run"}, limited} {
		args := append(append([]string{}, flags...), "--rm", "--network", "host", testImage, "-version")
		out, err := exec.Command("podman", args...).CombinedOutput()
		if err == nil && strings.Contains(string(out), "CoreDNS-") {
			if len(why) > 0 {
				t.Logf("podman runs containers here only with %q:\n%s", flags, why[0])
			}
			return flags
		}
		why = append(why, fmt.Sprintf("podman %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out))))
	}
	t.Skipf("podman cannot run containers on this machine:\n%s", strings.Join(why, "\n"))
	return nil
}

// podman runs podman with args, spliced into the flags of runtimeFlags
// (which end with "run") when args start with run.
func podman(t *testing.T, flags []string, args ...string) {
	t.Helper()
	if len(flags) > 0 && len(args) > 0 && args[0] == "run" {
		args = append(append([]string{}, flags...), args[1:]...)
	}
	if out, err := exec.Command("podman", args...).CombinedOutput(); err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
