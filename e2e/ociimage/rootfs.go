package ociimage

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// CapabilityXattr is the extended attribute that holds a file's
// capabilities; tar carries it as a PAX record.
const CapabilityXattr = "security.capability"

// file is one entry of the image's root filesystem.
type file struct {
	path   string // without the leading slash
	mode   int64  // permissions; a directory when data is nil and dir is set
	dir    bool
	data   []byte
	xattrs map[string]string
}

// rootFiles lists the image's files: every directory before its contents.
func rootFiles(binary string) ([]file, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	certs, err := caRootsPEM()
	if err != nil {
		return nil, err
	}
	dir := func(p string) file { return file{path: p, mode: 0o755, dir: true} }
	return []file{
		{path: strings.TrimPrefix(BinaryPath, "/"), mode: 0o755, data: bin,
			xattrs: map[string]string{CapabilityXattr: string(NetBindServiceCapability())}},
		dir("etc"),
		dir("etc/coredns"),
		{path: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", GID)},
		{path: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil,
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/nonexistent:/sbin/nologin\n", UID, GID)},
		dir("etc/ssl"),
		dir("etc/ssl/certs"),
		{path: strings.TrimPrefix(CACertsPath, "/"), mode: 0o644, data: certs},
	}, nil
}

// NetBindServiceCapability is the value of a file's security.capability
// attribute for cap_net_bind_service=+ep: struct vfs_cap_data of
// revision 2 (linux/capability.h), the effective flag set, the capability
// permitted, nothing inheritable. A non-root process started from the
// file may bind ports below 1024 and gains nothing else.
func NetBindServiceCapability() []byte {
	const (
		revision2 = 0x02000000
		effective = 0x000001
		netBind   = 10 // CAP_NET_BIND_SERVICE
	)
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], revision2|effective)
	binary.LittleEndian.PutUint32(b[4:], 1<<netBind) // permitted, capabilities 0-31
	return b                                         // inheritable and capabilities 32-63: none
}

// newLayer tars files into the image's one layer, every entry owned by
// root and stamped with created.
func newLayer(files []file, created time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode, ModTime: created, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, f.path+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if len(f.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range f.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// staticLinuxArch checks that path is a statically linked Linux ELF binary
// (no program interpreter: scratch has no libc) and returns its GOARCH.
func staticLinuxArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s is not a Linux binary: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is dynamically linked: the image has no libc; build it with CGO_ENABLED=0", path)
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_PPC64:
		return "ppc64le", nil
	case elf.EM_S390:
		return "s390x", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	}
	return "", fmt.Errorf("%s is for %v, which this image builder does not name: build for amd64, arm64, ppc64le, s390x or riscv64", path, f.Machine)
}
