package ociimage

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// nameAnnotations name the image in the layout's index: containerd (ctr
// import, docker load, kind) reads the full name, podman and skopeo the
// OCI reference name.
func nameAnnotations(name string) map[string]string {
	return map[string]string{
		"io.containerd.image.name":          qualified(name),
		"org.opencontainers.image.ref.name": name,
	}
}

// qualified is name as containerd spells it: docker.io/library/NAME for a
// name without a registry.
func qualified(name string) string {
	first, _, found := strings.Cut(name, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return name
	}
	if !found {
		return "docker.io/library/" + name
	}
	return "docker.io/" + name
}

// tarDir writes the files under dir into the tar archive out, in lexical
// order, stamped with created and owned by root, through a temporary file
// renamed into place.
func tarDir(dir, out string, created time.Time) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	tw := tar.NewWriter(tmp)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		return addToTar(tw, dir, path, d, created)
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// addToTar adds path, a file or directory under dir, to tw.
func addToTar(tw *tar.Writer, dir, path string, d fs.DirEntry, created time.Time) error {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return err
	}
	h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: created, Typeflag: tar.TypeReg}
	if d.IsDir() {
		h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
		return tw.WriteHeader(h)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	h.Size = info.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
