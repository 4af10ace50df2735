package kubernetes

import (
	"slices"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// selects reports whether a label selector selects a pod's labels.
func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return sel != nil && !s.Empty() && s.Matches(labels.Set(podLabels))
}

func checkSecurity(t *testing.T, pod *corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("Want a pod and a container securityContext")
	}
	if !isTrue(psc.RunAsNonRoot) && !isTrue(sc.RunAsNonRoot) {
		t.Error("Want runAsNonRoot")
	}
	if user := firstSet(sc.RunAsUser, psc.RunAsUser); user == nil || *user != 65532 {
		t.Error("Want runAsUser 65532, the image's user")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("Want seccompProfile RuntimeDefault")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("Want allowPrivilegeEscalation false")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("Want readOnlyRootFilesystem")
	}
	caps := sc.Capabilities
	if caps == nil || !slices.Equal(caps.Drop, []corev1.Capability{"ALL"}) || !slices.Equal(caps.Add, []corev1.Capability{"NET_BIND_SERVICE"}) {
		t.Errorf("Want capabilities drop ALL, add NET_BIND_SERVICE; have %+v", caps)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
		t.Errorf("Want cpu and memory requests and a memory limit; have %+v", c.Resources)
	}
}

// checkReadable: the container's user can read every mounted volume's
// files: their mode lets others read, or lets the group read and the
// pod's fsGroup owns them (the kubelet gives files root as owner).
func checkReadable(t *testing.T, pod *corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		mode := volumeMode(pod, m.Name)
		if mode&0o004 != 0 || mode&0o040 != 0 && pod.SecurityContext.FSGroup != nil {
			continue
		}
		t.Errorf("Volume %s's files (mode %o) are root's: the user cannot read them; set the pod's fsGroup, or a defaultMode others may read", m.Name, mode)
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func firstSet(vs ...*int64) *int64 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

// checkSpread: replicas on different nodes, by a topology spread
// constraint or a pod anti-affinity on the host name that selects them.
func checkSpread(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.TopologyKey == "kubernetes.io/hostname" && c.WhenUnsatisfiable == corev1.DoNotSchedule && selects(t, c.LabelSelector, pod.Labels) {
			return
		}
	}
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == "kubernetes.io/hostname" && selects(t, term.LabelSelector, pod.Labels) {
				return
			}
		}
	}
	t.Errorf("Deployment %s: replicas are not spread across nodes", d.Name)
}

// checkPDB: a PodDisruptionBudget selects the Deployment's pods and lets
// no voluntary disruption take them all.
func checkPDB(t *testing.T, o *objects, d *appsv1.Deployment) {
	t.Helper()
	for _, pdb := range o.pdbs {
		if !selects(t, pdb.Spec.Selector, d.Spec.Template.Labels) {
			continue
		}
		min := pdb.Spec.MinAvailable
		if min != nil && min.Type == intstr.Int && min.IntVal >= 1 && min.IntVal < *d.Spec.Replicas {
			return
		}
		if max := pdb.Spec.MaxUnavailable; max != nil && max.Type == intstr.Int && max.IntVal >= 1 && max.IntVal < *d.Spec.Replicas {
			return
		}
		t.Errorf("PodDisruptionBudget %s: want minAvailable or maxUnavailable between 1 and the replicas", pdb.Name)
		return
	}
	t.Errorf("No PodDisruptionBudget selects the pods of %s", d.Name)
}

// containerPort resolves a probe's or Service's port (a number or a
// container port's name) to a container port number.
func containerPort(c *corev1.Container, p intstr.IntOrString) string {
	if p.Type == intstr.Int {
		return strconv.Itoa(int(p.IntVal))
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return strconv.Itoa(int(cp.ContainerPort))
		}
	}
	return "unknown port " + p.StrVal
}

// checkExposed: the container declares port/proto, and a Service that
// selects the pod forwards a port to it.
func checkExposed(t *testing.T, what, port string, proto corev1.Protocol, o *objects, pod *corev1.PodTemplateSpec, c *corev1.Container) {
	t.Helper()
	declared := slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
		return strconv.Itoa(int(cp.ContainerPort)) == port && protocol(cp.Protocol) == proto
	})
	if !declared {
		t.Errorf("%s: the container declares no %s port %s", what, proto, port)
	}
	for _, svc := range o.services {
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			target := sp.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(sp.Port)
			}
			if protocol(sp.Protocol) == proto && containerPort(c, target) == port {
				return
			}
		}
	}
	t.Errorf("%s: no Service that selects the pods forwards to %s port %s", what, proto, port)
}

func protocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// checkProbe: an HTTP probe on path at the plugin's port.
func checkProbe(t *testing.T, what string, p *corev1.Probe, path, port string, c *corev1.Container) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("Want an HTTP %s", what)
		return
	}
	if p.HTTPGet.Path != path || containerPort(c, p.HTTPGet.Port) != port {
		t.Errorf("%s: %s on port %s, want %s on port %s", what, p.HTTPGet.Path, containerPort(c, p.HTTPGet.Port), path, port)
	}
}
