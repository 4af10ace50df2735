package kubernetes

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// deployed is the failover Deployment of a kustomization, its container,
// and its Corefile's server blocks after every directive's setup ran.
type deployed struct {
	objs   *objects
	d      *appsv1.Deployment
	c      *corev1.Container
	env    map[string]corev1.EnvVar
	blocks []block
}

func TestBase(t *testing.T) {
	checkPorts(t, deploy(t, "base"))
}

// deploy builds the kustomization and checks its Deployment's pod: the
// security settings, the spread, the disruption budget; then its Corefile
// parses and sets up with the pod's environment and files.
func deploy(t *testing.T, dir string) *deployed {
	t.Helper()
	o := build(t, dir)
	if len(o.secrets) != 0 {
		t.Error("The kustomization ships a Secret: the operator creates it (secret.example.yaml)")
	}
	_, d := only(t, "Deployment", o.deployments)
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("Deployment %s: want 2 replicas or more", d.Name)
	}
	pod := &d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("Want one container, have %d", len(pod.Containers))
	}
	c := &pod.Containers[0]
	checkSecurity(t, pod, c)
	checkReadable(t, pod, c)
	checkSpread(t, d)
	checkPDB(t, o, d)

	corefile := corefileOf(t, o)
	secret := exampleSecret(t)
	env := podEnv(t, c, secret)
	checkEnv(t, corefile, env)
	blocks := setupCorefile(t, podFiles(t, corefile, pod, c, o, secret))
	return &deployed{objs: o, d: d, c: c, env: env, blocks: blocks}
}

// corefileOf returns the Corefile of the one ConfigMap that holds one.
func corefileOf(t *testing.T, o *objects) string {
	t.Helper()
	var found []string
	for _, cm := range o.configMaps {
		if cf, ok := cm.Data["Corefile"]; ok {
			found = append(found, cf)
		}
	}
	if len(found) != 1 {
		t.Fatalf("Want one ConfigMap with a Corefile, have %d", len(found))
	}
	return found[0]
}

// checkEnv: every {$VAR} of the Corefile comes from the container's
// environment, secrets (webhook URL and headers, etcd credentials) from the
// Secret, the fleet member's name from the pod's name.
func checkEnv(t *testing.T, corefile string, env map[string]corev1.EnvVar) {
	t.Helper()
	for name, use := range envVars(corefile) {
		e, ok := env[name]
		switch {
		case !ok:
			t.Errorf("Corefile uses {$%s} (%s), which the container's env does not set", name, use)
		case use == "notify" || use == "header" || use == "credentials":
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("{$%s} (%s) is a secret: want it from the Secret", name, use)
			}
		case use == "member":
			if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
				t.Errorf("{$%s} (member) should be the pod's name (fieldRef metadata.name)", name)
			}
		}
	}
}

// checkPorts: the Corefile's one server block listens on 53, and its
// plugins' addresses are those of the probes, the container's ports and the
// Service's: health (liveness), ready (readiness), prometheus (metrics), the
// failover block's status listener.
func checkPorts(t *testing.T, dep *deployed) {
	t.Helper()
	if len(dep.blocks) != 1 {
		t.Fatalf("Want one server block, have %d", len(dep.blocks))
	}
	b, pod, c := dep.blocks[0], &dep.d.Spec.Template, dep.c
	if port := b.port(t); port != "53" {
		t.Errorf("The server block listens on %s, want 53", port)
	}
	checkExposed(t, "DNS", b.port(t), corev1.ProtocolUDP, dep.objs, pod, c)
	checkExposed(t, "DNS", b.port(t), corev1.ProtocolTCP, dep.objs, pod, c)

	health := pluginAddress(t, b, "health", ":8080")
	checkProbe(t, "livenessProbe", c.LivenessProbe, "/health", portOf(t, health), c)
	ready := pluginAddress(t, b, "ready", ":8181")
	checkProbe(t, "readinessProbe", c.ReadinessProbe, "/ready", portOf(t, ready), c)
	metrics := pluginAddress(t, b, "prometheus", "localhost:9153")
	checkExposed(t, "prometheus", portOf(t, metrics), corev1.ProtocolTCP, dep.objs, pod, c)

	status := b.property("failover", "status")
	if len(status) != 1 {
		t.Fatalf("Want a status line in the failover block, have %q", status)
	}
	reachable(t, "status", status[0])
	checkExposed(t, "status", portOf(t, status[0]), corev1.ProtocolTCP, dep.objs, pod, c)
}

// pluginAddress is the address a plugin of the block listens on (def when
// it has no argument); it must be in the block and reachable from outside
// the pod.
func pluginAddress(t *testing.T, b block, dir, def string) string {
	t.Helper()
	addr, ok := b.address(dir, def)
	if !ok {
		t.Fatalf("The server block has no %s", dir)
	}
	reachable(t, dir, addr)
	return addr
}
