package ociimage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildRefusesWhatScratchCannotRun checks the errors for a binary the
// image could not run: dynamically linked (scratch has no libc), or no
// Linux binary at all. Neither leaves an archive behind.
func TestBuildRefusesWhatScratchCannotRun(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "coredns")
	if err := os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for bin, want := range map[string]string{
		"/bin/true": "is dynamically linked: the image has no libc; build it with CGO_ENABLED=0",
		text:        "is not a Linux binary",
	} {
		out := filepath.Join(dir, "image.tar")
		_, err := Build(Options{Binary: bin, Out: out, Name: "x:y", Created: time.Unix(0, 0)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Build(%s): %v, want an error saying %q", bin, err, want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("Build(%s) failed but left %s", bin, out)
		}
	}
}

// TestQualified checks the names containerd is given: Docker Hub's
// library for a bare name, Docker Hub for a user's, as written for a
// registry's.
func TestQualified(t *testing.T) {
	for name, want := range map[string]string{
		"coredns-failover:latest":                      "docker.io/library/coredns-failover:latest",
		"example/coredns-failover:1":                   "docker.io/example/coredns-failover:1",
		"registry.example.com/dns/coredns-failover:v1": "registry.example.com/dns/coredns-failover:v1",
		"localhost:5000/coredns-failover:v1":           "localhost:5000/coredns-failover:v1",
		"localhost/coredns-failover:v1":                "localhost/coredns-failover:v1",
	} {
		if got := qualified(name); got != want {
			t.Errorf("qualified(%q) = %q, want %q", name, got, want)
		}
	}
}
