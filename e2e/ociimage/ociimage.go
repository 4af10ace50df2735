// Package ociimage builds the container image of CoreDNS with failover
// without a container runtime or a registry: one layer on scratch (the
// static binary, the CA roots, and passwd and group files naming the
// non-root user), saved as an OCI archive, a tar of an OCI image layout,
// which podman load, docker load, ctr import and kind load image-archive
// read. go-containerregistry writes the image: digests, media types and the
// layout are its job, so that they are right without a runtime to check
// them.
package ociimage

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed settings; the Dockerfile states the same (a test
// compares them).
const (
	// BinaryPath is CoreDNS in the image, with the file capability
	// cap_net_bind_service=+ep: the non-root user binds port 53.
	BinaryPath = "/coredns"
	// CorefilePath is the Corefile the image's default arguments name:
	// mount yours there.
	CorefilePath = "/etc/coredns/Corefile"
	// CACertsPath holds the CA roots, where Go's crypto/x509 looks first on
	// Linux.
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
	// UID and GID are the non-root user the image runs as (nonroot, as in
	// the distroless images).
	UID, GID = 65532, 65532
	// WorkingDir is where relative paths of the Corefile start.
	WorkingDir = "/etc/coredns"
)

// User is the image's USER.
var User = fmt.Sprintf("%d:%d", UID, GID)

// Entrypoint and Cmd are the image's ENTRYPOINT and CMD.
var (
	Entrypoint = []string{BinaryPath}
	Cmd        = []string{"-conf", CorefilePath}
)

// ExposedPorts are the image's EXPOSE: DNS over UDP and TCP.
var ExposedPorts = []string{"53/udp", "53/tcp"}

// Options say what to build.
type Options struct {
	// Binary is a static CoreDNS (CGO_ENABLED=0) for linux.
	Binary string
	// Out is the OCI archive to write.
	Out string
	// Name is the image's name and tag, e.g. coredns-failover:latest.
	Name string
	// Version is the image's org.opencontainers.image.version label.
	Version string
	// Created stamps the image and its files: the same inputs and time
	// give the same digest.
	Created time.Time
}

// Build writes the image of o.Binary to o.Out and returns its manifest's
// digest.
func Build(o Options) (v1.Hash, error) {
	arch, err := staticLinuxArch(o.Binary)
	if err != nil {
		return v1.Hash{}, err
	}
	files, err := rootFiles(o.Binary)
	if err != nil {
		return v1.Hash{}, err
	}
	layer, err := newLayer(files, o.Created)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := mutate.ConfigFile(empty.Image, configFile(arch, o))
	if err != nil {
		return v1.Hash{}, err
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "make image: " + filepath.Base(o.Binary) + ", CA roots, nonroot user"},
	})
	if err != nil {
		return v1.Hash{}, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	return digest, writeArchive(img, o)
}

// configFile is the image's configuration: who runs what, and how.
func configFile(arch string, o Options) *v1.ConfigFile {
	ports := map[string]struct{}{}
	for _, p := range ExposedPorts {
		ports[p] = struct{}{}
	}
	return &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      v1.Time{Time: o.Created},
		Config: v1.Config{
			User:         User,
			Entrypoint:   Entrypoint,
			Cmd:          Cmd,
			WorkingDir:   WorkingDir,
			ExposedPorts: ports,
			StopSignal:   "SIGTERM",
			Labels: map[string]string{
				"org.opencontainers.image.title":    "CoreDNS with failover",
				"org.opencontainers.image.source":   "https://github.com/failover-dns/failover",
				"org.opencontainers.image.licenses": "Apache-2.0",
				"org.opencontainers.image.version":  o.Version,
			},
		},
	}
}

// writeArchive writes img as an OCI image layout, named o.Name, and tars
// it into o.Out (through a temporary file: a failed build leaves no half
// archive).
func writeArchive(img v1.Image, o Options) error {
	dir, err := os.MkdirTemp("", "ociimage")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(nameAnnotations(o.Name))); err != nil {
		return err
	}
	legacy, err := dockerManifest(img, o.Name)
	if err != nil {
		return err
	}
	if err := p.WriteFile("manifest.json", legacy, 0o644); err != nil {
		return err
	}
	return tarDir(dir, o.Out, o.Created)
}

// dockerManifest is the manifest.json of docker save's format, pointing at
// the layout's blobs (as docker save writes since Docker 25): Docker
// releases that read only that format load the same archive.
func dockerManifest(img v1.Image, name string) ([]byte, error) {
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	entry := struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{Config: blobPath(cfg), RepoTags: []string{name}}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		entry.Layers = append(entry.Layers, blobPath(d))
	}
	return json.Marshal([]any{entry})
}

// blobPath is where an OCI layout keeps the blob of digest h.
func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
