package kubernetes

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// kubernetesSection is docs/installation.md's '## Kubernetes' section.
func kubernetesSection(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "docs", "installation.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(data), "\n## Kubernetes\n")
	if !ok {
		t.Fatal("docs/installation.md has no '## Kubernetes'")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	return sec
}

var (
	deployPath = regexp.MustCompile(`deploy/kubernetes/[A-Za-z0-9_./-]*[A-Za-z0-9_]`)
	applyDir   = regexp.MustCompile("kubectl (?:apply|diff|delete)(?: --[a-z-]+)* -k ([^\\s`]+)")
	secretKey  = regexp.MustCompile(`--from-(?:file|literal)=([a-z0-9-]+)=`)
)

// TestREADMEKubernetes: the paths of the installation guide's Kubernetes section
// exist, its 'kubectl apply -k' commands name every kustomization, and its
// 'kubectl create secret' makes the keys the manifests read.
func TestREADMEKubernetes(t *testing.T) {
	sec := kubernetesSection(t)
	for _, p := range deployPath.FindAllString(sec, -1) {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("docs/installation.md names %s: %v", p, err)
		}
	}
	applied := map[string]bool{}
	for _, m := range applyDir.FindAllStringSubmatch(sec, -1) {
		if _, err := os.Stat(filepath.Join(root, m[1], "kustomization.yaml")); err != nil {
			t.Errorf("docs/installation.md: %q: no kustomization there", m[0])
		}
		applied[m[1]] = true
	}
	for _, dir := range []string{"base", "fleet", "clusterdns", "monitoring"} {
		if !applied["deploy/kubernetes/"+dir] {
			t.Errorf("docs/installation.md applies no deploy/kubernetes/%s", dir)
		}
	}
	var keys []string
	for _, m := range secretKey.FindAllStringSubmatch(sec, -1) {
		keys = append(keys, m[1])
	}
	slices.Sort(keys)
	want := slices.Sorted(maps.Keys(exampleSecret(t).StringData))
	if !slices.Equal(keys, want) {
		t.Errorf("docs/installation.md's 'kubectl create secret' makes keys %q, the manifests read %q", keys, want)
	}
}
