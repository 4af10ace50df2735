// Package kubernetes generates the monitoring manifests of
// deploy/kubernetes from the repository's sources of truth (the alerting
// rules, the dashboard), and its tests check that every kustomization of
// deploy/kubernetes builds, decodes strictly, parses and agrees with itself.
package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// The sources and the files generated from them, relative to the
// repository's root. kustomize refuses files outside a kustomization's
// root, symlinks included, hence copies that a test compares.
const (
	RulesFile          = "alerts/failover.rules.yml"
	PrometheusRuleFile = "deploy/kubernetes/monitoring/prometheusrule.yaml"
	DashboardFile      = "dashboards/failover.json"
	DashboardMapFile   = "deploy/kubernetes/monitoring/dashboard.yaml"
	// DashboardKey is the dashboard's key in its ConfigMap.
	DashboardKey = "failover.json"
)

const ruleHeader = `# GENERATED from alerts/failover.rules.yml by 'make kubernetes': do not edit.
# The alerting rules as a Prometheus Operator PrometheusRule (a test fails
# when this file and the rules differ).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: failover
  labels:
    app.kubernetes.io/name: failover
spec:
`

const dashboardHeader = `# GENERATED from dashboards/failover.json by 'make kubernetes': do not edit.
# The dashboard for Grafana's sidecar, which loads ConfigMaps labelled
# grafana_dashboard (a test fails when this file and the dashboard differ).
apiVersion: v1
kind: ConfigMap
metadata:
  name: failover-dashboard
  labels:
    grafana_dashboard: "1"
    app.kubernetes.io/name: failover
data:
  ` + DashboardKey + `: |
`

// PrometheusRule returns the PrometheusRule manifest for a Prometheus rules
// file: its 'groups:' and everything after, indented under 'spec:', text
// for text (the annotations' templates and block scalars unchanged).
func PrometheusRule(rules []byte) ([]byte, error) {
	start := bytes.Index(rules, []byte("\ngroups:"))
	if start < 0 {
		return nil, fmt.Errorf("no top-level 'groups:' in the rules")
	}
	return indented(ruleHeader, rules[start+1:], "  "), nil
}

// DashboardConfigMap returns the ConfigMap manifest holding a dashboard's
// JSON as a literal block, text for text.
func DashboardConfigMap(dashboard []byte) ([]byte, error) {
	if !bytes.HasPrefix(dashboard, []byte("{")) || !bytes.HasSuffix(dashboard, []byte("}\n")) {
		return nil, fmt.Errorf("the dashboard must start with '{' and end with '}' and one newline")
	}
	return indented(dashboardHeader, dashboard, "    "), nil
}

// indented is header followed by body, every line that is not blank
// indented by indent.
func indented(header string, body []byte, indent string) []byte {
	var out bytes.Buffer
	out.WriteString(header)
	for _, line := range bytes.SplitAfter(body, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			out.WriteString(indent)
		}
		out.Write(line)
	}
	return out.Bytes()
}

// Generated pairs each generated file with its source and generator.
var Generated = []struct {
	Source, Target string
	Generate       func([]byte) ([]byte, error)
}{
	{RulesFile, PrometheusRuleFile, PrometheusRule},
	{DashboardFile, DashboardMapFile, DashboardConfigMap},
}

// Generate returns the contents of target (one of Generated's) from its
// source under the repository root.
func Generate(root, source string, gen func([]byte) ([]byte, error)) ([]byte, error) {
	src, err := os.ReadFile(filepath.Join(root, source))
	if err != nil {
		return nil, err
	}
	out, err := gen(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return out, nil
}

// WriteAll regenerates every file of Generated under the repository root.
func WriteAll(root string) error {
	for _, g := range Generated {
		out, err := Generate(root, g.Source, g.Generate)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, g.Target), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}
