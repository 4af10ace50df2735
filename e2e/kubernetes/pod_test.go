package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// kubeletFiles are files every container gets without a volume.
var kubeletFiles = map[string]bool{"/etc/resolv.conf": true, "/etc/hosts": true}

// exampleSecret is deploy/kubernetes/base/secret.example.yaml: the keys
// the operator's Secret must hold, with placeholder values that stand in
// for the real ones in these tests.
func exampleSecret(t *testing.T) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	strictYAMLFile(t, "deploy/kubernetes/base/secret.example.yaml", &s)
	if s.Name == "" || len(s.StringData) == 0 {
		t.Fatal("secret.example.yaml: want a name and stringData")
	}
	return &s
}

// podEnv sets, in the test's environment, every variable the container
// provides, as the kubelet would: literal values, the Secret's keys (from
// the example Secret), the pod's name. It returns how each one is provided.
func podEnv(t *testing.T, c *corev1.Container, secret *corev1.Secret) map[string]corev1.EnvVar {
	t.Helper()
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		val := e.Value
		switch vf := e.ValueFrom; {
		case vf == nil:
		case vf.SecretKeyRef != nil:
			v, ok := secret.StringData[vf.SecretKeyRef.Key]
			if vf.SecretKeyRef.Name != secret.Name || !ok {
				t.Fatalf("Env %s: key %s of Secret %s is not in secret.example.yaml", e.Name, vf.SecretKeyRef.Key, vf.SecretKeyRef.Name)
			}
			val = v
		case vf.FieldRef != nil && vf.FieldRef.FieldPath == "metadata.name":
			val = "failover-5d8f7c9b4-x2v7k"
		default:
			t.Fatalf("Env %s: unexpected source %+v", e.Name, vf)
		}
		env[e.Name] = e
		t.Setenv(e.Name, val)
	}
	return env
}

// podFiles writes the container's volume mounts (ConfigMaps of objs, the
// example Secret) under a temporary directory as the kubelet would, and
// returns the Corefile with its file paths moved there. Every absolute path
// of the Corefile must be under a mount (or be one the kubelet provides).
func podFiles(t *testing.T, corefile string, pod *corev1.PodSpec, c *corev1.Container, objs *objects, secret *corev1.Secret) string {
	t.Helper()
	dir := t.TempDir()
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("Volume mount %s is not read-only", m.MountPath)
		}
		for name, data := range volumeFiles(t, pod, m.Name, objs, secret) {
			writeFile(t, filepath.Join(dir, m.MountPath, name), data)
		}
	}
	for _, p := range filePaths(corefile) {
		if kubeletFiles[p] {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("Corefile names %s, which no volume mount of the container provides", p)
		}
		corefile = strings.ReplaceAll(corefile, " "+p, " "+filepath.Join(dir, p))
	}
	return corefile
}

// volumeFiles returns the files (path in the mount: contents) of a pod's
// volume.
func volumeFiles(t *testing.T, pod *corev1.PodSpec, name string, objs *objects, secret *corev1.Secret) map[string]string {
	t.Helper()
	for _, v := range pod.Volumes {
		if v.Name != name {
			continue
		}
		switch {
		case v.ConfigMap != nil:
			cm, ok := objs.configMaps[namespaceOf(objs)+"/"+v.ConfigMap.Name]
			if !ok {
				t.Fatalf("Volume %s: no ConfigMap %s", name, v.ConfigMap.Name)
			}
			return project(t, name, cm.Data, v.ConfigMap.Items)
		case v.Secret != nil:
			if v.Secret.SecretName != secret.Name {
				t.Fatalf("Volume %s: Secret %s, want %s", name, v.Secret.SecretName, secret.Name)
			}
			return project(t, name, secret.StringData, v.Secret.Items)
		}
		t.Fatalf("Volume %s: neither ConfigMap nor Secret", name)
	}
	t.Fatalf("Volume mount %s: no such volume", name)
	return nil
}

// namespaceOf is the namespace of the kustomization's objects (all in one).
func namespaceOf(objs *objects) string {
	for _, d := range objs.deployments {
		return d.Namespace
	}
	return ""
}

// project applies a volume's items (key to path) to its data, as the
// kubelet does; without items, every key is a file.
func project(t *testing.T, volume string, data map[string]string, items []corev1.KeyToPath) map[string]string {
	t.Helper()
	if len(items) == 0 {
		return data
	}
	files := map[string]string{}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			t.Fatalf("Volume %s: no key %s", volume, it.Key)
		}
		files[it.Path] = v
	}
	return files
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
