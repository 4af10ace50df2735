package kubernetes

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestFleet(t *testing.T) {
	dep := deploy(t, "fleet")
	checkPorts(t, dep)
	_, etcd := only(t, "StatefulSet", dep.objs.statefulSets)
	checkEtcd(t, dep.objs, etcd)
	checkFleetLine(t, dep, etcd)
}

// checkEtcd: three members with a pinned image, non-root, named through a
// headless Service.
func checkEtcd(t *testing.T, o *objects, etcd *appsv1.StatefulSet) {
	t.Helper()
	if etcd.Spec.Replicas == nil || *etcd.Spec.Replicas != 3 {
		t.Error("Want three etcd members")
	}
	pod := etcd.Spec.Template.Spec
	image := pod.Containers[0].Image
	if _, tag, ok := strings.Cut(image, ":"); !ok || tag == "latest" || !strings.Contains(image, "etcd") {
		t.Errorf("etcd image %q: want an etcd image at a pinned version", image)
	}
	if sc := pod.SecurityContext; sc == nil || !isTrue(sc.RunAsNonRoot) {
		t.Error("etcd: want runAsNonRoot")
	}
	if sc := pod.Containers[0].SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("etcd: want allowPrivilegeEscalation false")
	}
	svc, ok := o.services[etcd.Namespace+"/"+etcd.Spec.ServiceName]
	if !ok {
		t.Fatalf("etcd: no Service %s", etcd.Spec.ServiceName)
	}
	if svc.Spec.ClusterIP != "None" || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(etcd.Spec.Template.Labels)) {
		t.Errorf("etcd: Service %s should be headless and select the members", svc.Name)
	}
}

// checkFleetLine: the Corefile's fleet line lists every etcd member by its
// stable name and client port, and the member is the pod's name.
func checkFleetLine(t *testing.T, dep *deployed, etcd *appsv1.StatefulSet) {
	t.Helper()
	client := ""
	for _, p := range etcd.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == "client" {
			client = fmt.Sprint(p.ContainerPort)
		}
	}
	var want []string
	for i := range *etcd.Spec.Replicas {
		want = append(want, fmt.Sprintf("http://%s-%d.%s:%s", etcd.Name, i, etcd.Spec.ServiceName, client))
	}
	b := dep.blocks[0]
	if got := b.property("failover", "fleet"); len(got) == 0 || got[0] != "etcd" || !slices.Equal(got[1:], want) {
		t.Errorf("fleet line %q, want etcd %q", got, want)
	}
	if _, ok := dep.env["POD_NAME"]; !ok || len(b.property("failover", "member")) != 1 {
		t.Error("Want 'member {$POD_NAME}' in the fleet block")
	}
	if len(b.property("failover", "credentials")) != 2 {
		t.Error("Want 'credentials USER {$VAR}' in the fleet block")
	}
}
