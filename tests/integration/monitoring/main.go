// Command monitoring decodes ServiceMonitor and PrometheusRule manifests through the Prometheus
// operator's own Go types, refusing unknown fields, so a field the operator does not know (a
// typo, a wrong nesting) fails the test instead of being dropped silently by the API server.
//
// Usage: monitoring FILE...   Exits 1 naming the first file and field that does not decode.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: monitoring FILE...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := check(path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func check(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return err
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(doc, &head); err != nil {
		return err
	}
	if head.APIVersion != "monitoring.coreos.com/v1" {
		return fmt.Errorf("apiVersion %q, want monitoring.coreos.com/v1", head.APIVersion)
	}
	var obj any
	switch head.Kind {
	case "ServiceMonitor":
		obj = &monitoringv1.ServiceMonitor{}
	case "PrometheusRule":
		obj = &monitoringv1.PrometheusRule{}
	default:
		return fmt.Errorf("kind %q is not a ServiceMonitor or PrometheusRule", head.Kind)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return fmt.Errorf("%s: %w", head.Kind, err)
	}
	// Decoded and re-encoded, nothing may be lost: every field hale wrote is one the operator keeps.
	again, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	var want, got any
	_ = json.Unmarshal(doc, &want)
	_ = json.Unmarshal(again, &got)
	if err := covers(got, want, head.Kind); err != nil {
		return err
	}
	fmt.Printf("%s: %s ok\n", path, head.Kind)
	return nil
}

// covers reports a value of want that got lacks.
func covers(got, want any, at string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: lost", at)
		}
		for k, v := range w {
			if err := covers(g[k], v, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: list changed", at)
		}
		for i := range w {
			if err := covers(g[i], w[i], fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	default:
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%s: %v became %v", at, want, got)
		}
	}
	return nil
}
