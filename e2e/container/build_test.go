// Package container tests the container image that make image builds: its
// configuration and files as the archive holds them, its CoreDNS started
// from its own root filesystem as its non-root user, the installation guide's podman
// commands where podman can run containers, and the Dockerfile's
// agreement with the archive.
package container

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/failover-dns/failover/e2e/internal/imagetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	imagetest.Cleanup()
	os.Exit(code)
}

// loaded is the archive read back: its index's one image and annotations.
type loaded struct {
	img         v1.Image
	annotations map[string]string
	dir         string // the unpacked layout
}

// load unpacks the archive at path and reads its image.
func load(t *testing.T, path string) loaded {
	t.Helper()
	dir := t.TempDir()
	if err := untar(path, dir, nil); err != nil {
		t.Fatalf("Unpacking %s: %v", path, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("Reading the OCI layout: %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("The index lists %d images, want 1", len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("Reading the image: %v", err)
	}
	return loaded{img: img, annotations: m.Manifests[0].Annotations, dir: dir}
}

// rootFS reads the image's files: their headers and contents by path
// (without the leading slash).
func rootFS(t *testing.T, l loaded) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	rc := extract(l)
	defer rc.Close()
	headers, contents := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return headers, contents
		}
		if err != nil {
			t.Fatalf("Reading the image's files: %v", err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		headers[name] = h
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, tr); err != nil {
			t.Fatal(err)
		}
		contents[name] = buf.Bytes()
	}
}

// extract is the image's root filesystem as one tar stream.
func extract(l loaded) io.ReadCloser { return mutate.Extract(l.img) }

// untar unpacks the tar file at path into dir; each regular file's header
// goes to onFile (when set) once the file is written.
func untar(path, dir string, onFile func(dst string, h *tar.Header) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unpack(f, dir, onFile)
}

// unpack writes the tar stream r's directories and regular files into dir.
func unpack(r io.Reader, dir string, onFile func(dst string, h *tar.Header) error) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(dst, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("%q leaves the archive's directory", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(dst, os.FileMode(h.Mode)|0o700)
		case tar.TypeReg:
			err = writeFile(dst, tr, os.FileMode(h.Mode))
			if err == nil && onFile != nil {
				err = onFile(dst, h)
			}
		default:
			err = fmt.Errorf("%q: unexpected tar entry type %c", h.Name, h.Typeflag)
		}
		if err != nil {
			return err
		}
	}
}

// writeFile writes r into a new file dst with mode.
func writeFile(dst string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
