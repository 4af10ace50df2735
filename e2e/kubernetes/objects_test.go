package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// root is the repository's root, from the e2e/kubernetes package.
const root = "../.."

// objects are the objects of one kustomization, by kind, then by
// "namespace/name".
type objects struct {
	namespaces      map[string]*corev1.Namespace
	deployments     map[string]*appsv1.Deployment
	statefulSets    map[string]*appsv1.StatefulSet
	services        map[string]*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	pdbs            map[string]*policyv1.PodDisruptionBudget
	serviceMonitors map[string]*monitoringv1.ServiceMonitor
	prometheusRules map[string]*monitoringv1.PrometheusRule
}

func newObjects() *objects {
	return &objects{
		namespaces:      map[string]*corev1.Namespace{},
		deployments:     map[string]*appsv1.Deployment{},
		statefulSets:    map[string]*appsv1.StatefulSet{},
		services:        map[string]*corev1.Service{},
		configMaps:      map[string]*corev1.ConfigMap{},
		secrets:         map[string]*corev1.Secret{},
		pdbs:            map[string]*policyv1.PodDisruptionBudget{},
		serviceMonitors: map[string]*monitoringv1.ServiceMonitor{},
		prometheusRules: map[string]*monitoringv1.PrometheusRule{},
	}
}

// build runs kustomize (as 'kubectl apply -k' does, files restricted to the
// kustomization's root) on deploy/kubernetes/DIR and decodes every object
// strictly into its Go type.
func build(t *testing.T, dir string) *objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, "deploy/kubernetes", dir))
	if err != nil {
		t.Fatalf("Kustomize build of %s: %v", dir, err)
	}
	objs := newObjects()
	for _, r := range rm.Resources() {
		js, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		if err := objs.add(r.GetApiVersion(), r.GetKind(), js); err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
	}
	return objs
}

// add decodes one object into the map of its kind; an unknown kind or
// field is an error.
func (o *objects) add(apiVersion, kind string, js []byte) error {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return decodeInto(js, o.namespaces)
	case "apps/v1 Deployment":
		return decodeInto(js, o.deployments)
	case "apps/v1 StatefulSet":
		return decodeInto(js, o.statefulSets)
	case "v1 Service":
		return decodeInto(js, o.services)
	case "v1 ConfigMap":
		return decodeInto(js, o.configMaps)
	case "v1 Secret":
		return decodeInto(js, o.secrets)
	case "policy/v1 PodDisruptionBudget":
		return decodeInto(js, o.pdbs)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return decodeInto(js, o.serviceMonitors)
	case "monitoring.coreos.com/v1 PrometheusRule":
		return decodeInto(js, o.prometheusRules)
	}
	return fmt.Errorf("unexpected kind %s %s", apiVersion, kind)
}

type object interface {
	GetNamespace() string
	GetName() string
}

// decodeInto decodes js into a new T, refusing unknown fields, and files it
// under "namespace/name"; a duplicate is an error.
func decodeInto[T any, PT interface {
	*T
	object
}](js []byte, into map[string]PT) error {
	obj := PT(new(T))
	if err := strictJSON(js, obj); err != nil {
		return err
	}
	key := obj.GetNamespace() + "/" + obj.GetName()
	if _, dup := into[key]; dup {
		return fmt.Errorf("%s twice", key)
	}
	into[key] = obj
	return nil
}

func strictJSON(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// strictYAMLFile decodes a YAML file of the repository strictly into v.
func strictYAMLFile(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// only returns the one object of a map, failing unless there is exactly one.
func only[T any](t *testing.T, what string, m map[string]T) (string, T) {
	t.Helper()
	if len(m) != 1 {
		t.Fatalf("Want one %s, have %d", what, len(m))
	}
	for k, v := range m {
		return k, v
	}
	panic("unreachable")
}
