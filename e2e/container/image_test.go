package container

import (
	"bytes"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/failover-dns/failover/e2e/internal/imagetest"
	"github.com/failover-dns/failover/e2e/ociimage"
)

// TestImageConfig checks what the image runs and how: the non-root user,
// the entry point and arguments, the working directory, the DNS ports,
// the platform, and the names the archive gives it.
func TestImageConfig(t *testing.T) {
	l := load(t, imagetest.Archive(t))
	cf, err := l.img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("User %q, want 65532:65532 (non-root)", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/coredns"}) || !slices.Equal(c.Cmd, []string{"-conf", "/etc/coredns/Corefile"}) {
		t.Errorf("Entrypoint %q, Cmd %q: want [/coredns] and [-conf /etc/coredns/Corefile]", c.Entrypoint, c.Cmd)
	}
	if c.WorkingDir != "/etc/coredns" {
		t.Errorf("WorkingDir %q, want /etc/coredns", c.WorkingDir)
	}
	if want := map[string]struct{}{"53/udp": {}, "53/tcp": {}}; !reflect.DeepEqual(c.ExposedPorts, want) {
		t.Errorf("ExposedPorts %v, want 53/udp and 53/tcp", c.ExposedPorts)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("Platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if got := l.annotations["org.opencontainers.image.ref.name"]; got != imagetest.Image {
		t.Errorf("OCI reference name %q, want %q", got, imagetest.Image)
	}
	if got := l.annotations["io.containerd.image.name"]; got != "docker.io/library/"+imagetest.Image {
		t.Errorf("containerd image name %q, want docker.io/library/%s", got, imagetest.Image)
	}
	checkDockerManifest(t, l)
}

// checkDockerManifest checks docker save's manifest.json: the image's tag,
// and its config and layers where the layout keeps them.
func checkDockerManifest(t *testing.T, l loaded) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(l.dir, "manifest.json"))
	if err != nil {
		t.Fatalf("The archive has no manifest.json for docker load: %v", err)
	}
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(data, &entries); err != nil || len(entries) != 1 {
		t.Fatalf("manifest.json %s: want one entry (%v)", data, err)
	}
	e := entries[0]
	cfg, _ := l.img.ConfigName()
	if e.Config != "blobs/sha256/"+cfg.Hex || !slices.Equal(e.RepoTags, []string{imagetest.Image}) || len(e.Layers) != 1 {
		t.Errorf("manifest.json %s: want config blobs/sha256/%s, tag %s, one layer", data, cfg.Hex, imagetest.Image)
	}
	for _, p := range append([]string{e.Config}, e.Layers...) {
		if _, err := os.Stat(filepath.Join(l.dir, p)); err != nil {
			t.Errorf("manifest.json names %s, which the archive lacks", p)
		}
	}
}

// TestImageFiles checks the image's files: a static CoreDNS owned by root
// with the capability to bind port 53 and no other, CA roots that parse,
// and the non-root user's passwd and group entries.
func TestImageFiles(t *testing.T) {
	headers, contents := rootFS(t, load(t, imagetest.Archive(t)))
	bin := headers["coredns"]
	if bin == nil {
		t.Fatal("The image has no /coredns")
	}
	if bin.Mode&0o777 != 0o755 || bin.Uid != 0 || bin.Gid != 0 {
		t.Errorf("/coredns mode %o owner %d:%d, want 755 root:root", bin.Mode, bin.Uid, bin.Gid)
	}
	if got := bin.PAXRecords["SCHILY.xattr.security.capability"]; got != string(ociimage.NetBindServiceCapability()) {
		t.Errorf("/coredns's security.capability is %x, want cap_net_bind_service=+ep (%x)", got, ociimage.NetBindServiceCapability())
	}
	checkStatic(t, contents["coredns"])
	if n := countCerts(t, contents["etc/ssl/certs/ca-certificates.crt"]); n < 100 {
		t.Errorf("/etc/ssl/certs/ca-certificates.crt holds %d roots, want over 100", n)
	}
	if !strings.Contains(string(contents["etc/passwd"]), "nonroot:x:65532:65532:") || !strings.Contains(string(contents["etc/group"]), "nonroot:x:65532:") {
		t.Errorf("passwd %q and group %q lack the nonroot user 65532", contents["etc/passwd"], contents["etc/group"])
	}
	var names []string
	for n := range headers {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"coredns", "etc", "etc/coredns", "etc/group", "etc/passwd", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca-certificates.crt"}
	if !slices.Equal(names, want) {
		t.Errorf("The image holds %q, want exactly %q", names, want)
	}
}

// countCerts parses every certificate of a PEM bundle and counts them.
func countCerts(t *testing.T, bundle []byte) int {
	t.Helper()
	n := 0
	for block, rest := pem.Decode(bundle); block != nil; block, rest = pem.Decode(rest) {
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Errorf("Root %d of the CA bundle does not parse: %v", n+1, err)
		}
		n++
	}
	return n
}

// checkStatic fails the test unless bin is an ELF binary without a
// program interpreter: the image has no libc to load.
func checkStatic(t *testing.T, bin []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("/coredns is not an ELF binary: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("/coredns is dynamically linked: the image has no libc")
		}
	}
}

// TestImageReproducible builds the image again from the same source and
// time: the same digest, so that a rebuild can be checked against a
// published image.
func TestImageReproducible(t *testing.T) {
	first, err := load(t, imagetest.Archive(t)).img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(t.TempDir(), "again.oci.tar")
	if err := imagetest.Make(again, imagetest.Epoch); err != nil {
		t.Fatalf("make image: %v", err)
	}
	second, err := load(t, again).img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Errorf("Two builds of one source: digests %s and %s", first, second)
	}
}
