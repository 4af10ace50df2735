package kubernetes

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// TestGeneratedUpToDate: the generated monitoring manifests are what their
// sources give now.
func TestGeneratedUpToDate(t *testing.T) {
	for _, g := range Generated {
		want, err := Generate(root, g.Source, g.Generate)
		if err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadFile(filepath.Join(root, g.Target))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, want) {
			t.Errorf("%s differs from %s: run 'make kubernetes'", g.Target, g.Source)
		}
	}
}

func TestMonitoring(t *testing.T) {
	o := build(t, "monitoring")
	_, sm := only(t, "ServiceMonitor", o.serviceMonitors)
	checkServiceMonitor(t, sm, build(t, "base"))

	_, rule := only(t, "PrometheusRule", o.prometheusRules)
	var rules struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	strictYAMLFile(t, RulesFile, &rules)
	if len(rules.Groups) == 0 || !reflect.DeepEqual(rule.Spec.Groups, rules.Groups) {
		t.Errorf("PrometheusRule's groups differ from %s", RulesFile)
	}

	dash, err := os.ReadFile(filepath.Join(root, DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	_, cm := only(t, "ConfigMap", o.configMaps)
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Error("The dashboard's ConfigMap lacks the label grafana_dashboard: \"1\"")
	}
	if got := cm.Data[DashboardKey]; got != string(dash) || !json.Valid([]byte(got)) {
		t.Errorf("The dashboard's ConfigMap differs from %s", DashboardFile)
	}
}

// checkServiceMonitor: it selects the base's Service, in its namespace, and
// scrapes a port of it that leads to the prometheus plugin's.
func checkServiceMonitor(t *testing.T, sm *monitoringv1.ServiceMonitor, base *objects) {
	t.Helper()
	for _, svc := range base.services {
		if svc.Namespace != sm.Namespace || !selects(t, &sm.Spec.Selector, svc.Labels) {
			continue
		}
		for _, ep := range sm.Spec.Endpoints {
			for _, p := range svc.Spec.Ports {
				if p.Name == ep.Port && p.Port == 9153 {
					return
				}
			}
		}
		t.Errorf("ServiceMonitor %s scrapes no port of Service %s that leads to metrics (9153)", sm.Name, svc.Name)
		return
	}
	t.Errorf("ServiceMonitor %s selects no Service of the base (labels %v)", sm.Name, labels.Set(sm.Spec.Selector.MatchLabels))
}
