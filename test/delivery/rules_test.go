package delivery

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// The chart's alerting rules, taken from the rendered PrometheusRule, pass promtool's checks and
// its unit tests (testdata/prometheus-rules_test.yaml).
func TestPrometheusRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install it with `apt-get install -y prometheus`")
	}
	objs := docs(t, mustRun(t, nil, helm, "template", "hama", chart,
		"--set", "prometheusRule.enabled=true,prometheusRule.skipCRDCheck=true", "--show-only", "templates/prometheusrule.yaml"))
	rule := find(objs, "PrometheusRule", "hama")
	if rule == nil {
		t.Fatal("no PrometheusRule rendered")
	}
	rules, err := yaml.Marshal(rule["spec"])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests, err := os.ReadFile(filepath.Join(root, "test", "delivery", "testdata", "prometheus-rules_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"rules.yaml": rules, "rules_test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
