package container

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/failover-dns/failover/e2e/internal/imagetest"
	"github.com/failover-dns/failover/e2e/ociimage"
	"github.com/failover-dns/failover/internal/netns"
)

// TestImageServesFromItsRootFS starts the image's CoreDNS as a runtime
// would, without one: chrooted into the image's unpacked files, as its
// user 65532, with its arguments and working directory, the guide's
// Corefile mounted where the image expects it, in a network namespace of
// the test's. It must bind port 53 by the binary's capability alone, keep
// no other capability, and answer and fail over over UDP and TCP.
func TestImageServesFromItsRootFS(t *testing.T) {
	netns.Needs(t, "ip")
	imagetest.Share(t)
	if !netns.Own(t) {
		return
	}
	l := load(t, imagetest.Archive(t))
	root := t.TempDir()
	unpackRootFS(t, l, root)
	corefile := filepath.Join(root, strings.TrimPrefix(ociimage.CorefilePath, "/"))
	if err := os.WriteFile(corefile, []byte(readmeCorefile(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	listeners := backends(t)
	cf, err := l.img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, cf.Config.Entrypoint...), cf.Config.Cmd...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = cf.Config.Env
	cmd.Dir = cf.Config.WorkingDir
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: ociimage.UID, Gid: ociimage.GID}}
	if err := cmd.Start(); err != nil {
		t.Fatalf("Starting the image's %s: %v", args[0], err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("CoreDNS's log:\n%s", log.String())
		}
	})
	checkFailover(t, "127.0.0.1:53", listeners)
	checkPrivileges(t, cmd.Process.Pid)
}

// checkPrivileges checks that process pid runs as the image's user with
// CAP_NET_BIND_SERVICE as its only capability.
func checkPrivileges(t *testing.T, pid int) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Uid:":    fmt.Sprintf("%d\t%d\t%d\t%d", ociimage.UID, ociimage.UID, ociimage.UID, ociimage.UID),
		"CapEff:": "0000000000000400", // CAP_NET_BIND_SERVICE (10)
		"CapPrm:": "0000000000000400",
	}
	for _, line := range strings.Split(string(status), "\n") {
		key, value, _ := strings.Cut(line, "\t")
		if w, ok := want[key]; ok && strings.TrimSpace(value) != w {
			t.Errorf("CoreDNS's %s %s, want %s", key, strings.TrimSpace(value), w)
		}
	}
}
