package container

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/failover-dns/failover/e2e/internal/imagetest"
)

// TestImageInPodman follows the installation guide's container section with podman:
// load the archive, write its Corefile, run its podman run line (on the
// host network, which is the test's own network namespace), and ask the
// server. It skips where podman is missing (and CI is not set: .ci/run
// installs it) or cannot run a container on this machine, saying why.
func TestImageInPodman(t *testing.T) {
	p, inside := imagetest.PodmanInOwnNetNS(t)
	if !inside {
		return
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(readmeCorefile(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	listeners := backends(t)
	p.Start(t, fmt.Sprintf("failover-test-%d", os.Getpid()), readmeRunArgs(t, dir)...)
	checkFailover(t, "127.0.0.1:53", listeners)
}

// readmeRunArgs are the arguments of the installation guide's container section's
// podman run line, but -d and --name (Start gives them), run in dir (for
// $PWD) and naming the test's image.
func readmeRunArgs(t *testing.T, dir string) []string {
	t.Helper()
	for _, block := range fenced(installSection(t, "## A container image"), "sh") {
		for _, line := range strings.Split(block, "\n") {
			rest, ok := strings.CutPrefix(line, "podman run ")
			if !ok {
				continue
			}
			rest = strings.NewReplacer(`"$PWD`, dir, `:ro"`, ":ro", "coredns-failover:latest", imagetest.Image).Replace(rest)
			args := strings.Fields(rest)
			i := slices.Index(args, "--name")
			if i < 0 || i+1 >= len(args) || !slices.Contains(args, "-d") {
				t.Fatalf("The guide's podman run line %q: want -d and --name NAME", line)
			}
			args = slices.Delete(args, i, i+2)
			return slices.DeleteFunc(args, func(a string) bool { return a == "-d" })
		}
	}
	t.Fatal("The guide's container section has no podman run line")
	return nil
}
