package kubernetes

import (
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestClusterDNS: the overlay holds only kube-system's CoreDNS Deployment's
// image and its Corefile, which keeps the usual cluster Corefile and adds a
// failover block.
func TestClusterDNS(t *testing.T) {
	o := build(t, "clusterdns")
	if len(o.namespaces)+len(o.services)+len(o.statefulSets)+len(o.pdbs)+len(o.secrets) != 0 {
		t.Error("The overlay should hold nothing but the Deployment's image and the Corefile")
	}
	key, d := only(t, "Deployment", o.deployments)
	want := corev1.PodSpec{Containers: []corev1.Container{{Name: "coredns", Image: "coredns-failover:latest"}}}
	if key != "kube-system/coredns" || d.Spec.Replicas != nil || d.Spec.Selector != nil || !reflect.DeepEqual(d.Spec.Template.Spec, want) {
		t.Errorf("Deployment %s: want kube-system/coredns with container coredns's image only (replicas, selector, other fields: the cluster's)", key)
	}
	key, cm := only(t, "ConfigMap", o.configMaps)
	if key != "kube-system/coredns" {
		t.Errorf("ConfigMap %s, want kube-system/coredns (the name the Deployment mounts)", key)
	}
	for _, p := range filePaths(cm.Data["Corefile"]) {
		if !kubeletFiles[p] {
			t.Errorf("Corefile names %s, which kube-system's Deployment does not mount", p)
		}
	}
	blocks := setupCorefile(t, cm.Data["Corefile"])
	if len(blocks) != 1 {
		t.Fatalf("Want one server block, have %d", len(blocks))
	}
	checkClusterBlock(t, blocks[0])
}

func checkClusterBlock(t *testing.T, b block) {
	t.Helper()
	for _, dir := range []string{"errors", "health", "ready", "kubernetes", "prometheus", "forward", "cache", "loop", "reload", "loadbalance", "failover"} {
		if _, ok := b.tokens[dir]; !ok {
			t.Errorf("The cluster Corefile lacks %s", dir)
		}
	}
	checks := []struct {
		dir, word string
		want      []string
	}{
		{"kubernetes", "kubernetes", []string{"cluster.local", "in-addr.arpa", "ip6.arpa"}},
		{"kubernetes", "pods", []string{"insecure"}},
		{"kubernetes", "fallthrough", []string{"in-addr.arpa", "ip6.arpa"}},
		{"prometheus", "prometheus", []string{":9153"}},
		{"forward", "forward", []string{".", "/etc/resolv.conf"}},
		{"cache", "cache", []string{"30"}},
	}
	for _, c := range checks {
		if got := b.property(c.dir, c.word); !slices.Equal(got, c.want) {
			t.Errorf("%s: %s %q, want %q", c.dir, c.word, got, c.want)
		}
	}
	if b.port(t) != "53" {
		t.Errorf("The server block listens on %s, want 53", b.port(t))
	}
}
