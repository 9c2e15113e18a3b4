// Package delivery proves the manifests a user installs: the kustomize tree under config/, the Helm
// chart under charts/, the Grafana dashboard and the Dockerfile, against a real API server.
package delivery

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/hama-operator/hama-operator/internal/testenv"
)

var (
	root       string
	helm       string
	kustomize  string
	kubectl    string
	kubeconfig string // written by TestMain for the envtest API server
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if root, err = testenv.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	helm = filepath.Join(root, "bin", "helm")
	kustomize = filepath.Join(root, "bin", "kustomize")
	for _, tool := range []string{helm, kustomize} {
		if _, err := os.Stat(tool); err != nil {
			fmt.Fprintf(os.Stderr, "%s is missing: run `make helm kustomize`\n", tool)
			return 1
		}
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kubectl = filepath.Join(assets, "kubectl")
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	if _, err := env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting the API server:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "delivery-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kc, err := user.KubeConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "delivery")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// sh runs a tool and returns its combined output.
func sh(t *testing.T, stdin []byte, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HELM_CACHE_HOME="+t.TempDir(),
		"HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustRun runs a tool and fails the test with its output when it fails.
func mustRun(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	out, err := sh(t, stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// docs splits a multi-document YAML stream into objects.
func docs(t *testing.T, stream string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(stream, -1) {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(part), &obj); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, part)
		}
		if obj != nil {
			out = append(out, obj)
		}
	}
	return out
}

func find(objs []map[string]any, kind, nameSuffix string) map[string]any {
	for _, o := range objs {
		md, _ := o["metadata"].(map[string]any)
		if o["kind"] == kind && strings.HasSuffix(fmt.Sprint(md["name"]), nameSuffix) {
			return o
		}
	}
	return nil
}

func get(o map[string]any, path ...any) any {
	var cur any = o
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := cur.(map[string]any)
			cur = m[k]
		case int:
			s, _ := cur.([]any)
			if k >= len(s) {
				return nil
			}
			cur = s[k]
		}
	}
	return cur
}

var chart = filepath.Join("charts", "hama-operator")

func TestHelmLintStrict(t *testing.T) {
	mustRun(t, nil, helm, "lint", "--strict", chart)
	mustRun(t, nil, helm, "lint", "--strict", chart, "-f", "test/delivery/testdata/all-options.yaml")
}

func TestChartDefaults(t *testing.T) {
	objs := docs(t, mustRun(t, nil, helm, "template", "hama", chart, "--namespace", "hama-system"))
	dep := find(objs, "Deployment", "hama-operator")
	if dep == nil {
		t.Fatal("no Deployment rendered")
	}
	if get(dep, "spec", "replicas") != float64(2) {
		t.Errorf("replicas = %v, want 2 by default", get(dep, "spec", "replicas"))
	}
	pod := get(dep, "spec", "template", "spec").(map[string]any)
	if get(pod, "securityContext", "runAsNonRoot") != true || get(pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("pod security context = %v", pod["securityContext"])
	}
	c := get(pod, "containers", 0).(map[string]any)
	sc := c["securityContext"].(map[string]any)
	if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false || fmt.Sprint(get(sc, "capabilities", "drop")) != "[ALL]" {
		t.Errorf("container security context = %v: want the restricted profile", sc)
	}
	if get(c, "livenessProbe", "httpGet", "path") != "/healthz" || get(c, "readinessProbe", "httpGet", "path") != "/readyz" {
		t.Errorf("probes = %v / %v", c["livenessProbe"], c["readinessProbe"])
	}
	if !slices.Contains(toStrings(c["args"]), "--leader-elect=true") {
		t.Errorf("args %v lack --leader-elect=true", c["args"])
	}
	for _, want := range []struct{ kind, name string }{
		{"PodDisruptionBudget", "hama-operator"}, {"Service", "-api"}, {"Service", "-metrics"}, {"ServiceAccount", "hama-operator"},
		{"ClusterRole", "-manager"}, {"ClusterRoleBinding", "-manager"}, {"Role", "-leader-election"},
	} {
		if find(objs, want.kind, want.name) == nil {
			t.Errorf("no %s *%s rendered", want.kind, want.name)
		}
	}
	if find(objs, "ServiceMonitor", "") != nil || find(objs, "ConfigMap", "-dashboard") != nil {
		t.Error("optional ServiceMonitor or dashboard rendered by default")
	}
}

func toStrings(v any) []string {
	s, _ := v.([]any)
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprint(x)
	}
	return out
}

func TestChartAllOptions(t *testing.T) {
	objs := docs(t, mustRun(t, nil, helm, "template", "hama", chart, "--namespace", "hama-system",
		"-f", "test/delivery/testdata/all-options.yaml"))
	dep := find(objs, "Deployment", "hama-operator")
	c := get(dep, "spec", "template", "spec", "containers", 0).(map[string]any)
	args := toStrings(c["args"])
	for _, want := range []string{"--redis-enabled=true", "--redis-addrs=hama-hama-operator-redis:6379", "--redis-db=2", "--redis-tls=true",
		"--redis-tls-ca-file=/etc/hama-operator/redis-ca/ca.crt", "--api-auth-reads=true", "--exchange-weight-per-minute=2400",
		"--redis-client-cache=false", "--redis-client-cache-max-staleness=30s"} {
		if !slices.Contains(args, want) {
			t.Errorf("args lack %s: %v", want, args)
		}
	}
	env := fmt.Sprint(c["env"])
	if !strings.Contains(env, "REDIS_PASSWORD") || !strings.Contains(env, "name:redis-auth") || !strings.Contains(env, "key:redis-password") {
		t.Errorf("REDIS_PASSWORD does not come from the existing secret: %s", env)
	}
	if !strings.Contains(env, "name:GOGC value:400") {
		t.Errorf("operator.gogc is not passed as GOGC: %s", env)
	}
	sm := find(objs, "ServiceMonitor", "")
	if sm == nil || get(sm, "metadata", "labels", "release") != "prometheus" || get(sm, "spec", "endpoints", 0, "interval") != "15s" {
		t.Errorf("ServiceMonitor = %v", sm)
	}
	cm := find(objs, "ConfigMap", "-dashboard")
	if cm == nil || get(cm, "metadata", "labels", "grafana_dashboard") != "1" || !strings.Contains(fmt.Sprint(get(cm, "data", "hama-operator.json")), "hama_cache_requests_total") {
		t.Errorf("dashboard ConfigMap = %v", cm != nil)
	}
	if find(objs, "Deployment", "-redis") == nil || find(objs, "Service", "-redis") == nil || find(objs, "AnalysisSchedule", "top-gainers") == nil {
		t.Error("bundled Redis or the schedule from values missing")
	}
	if pdb := find(objs, "PodDisruptionBudget", ""); get(pdb, "spec", "minAvailable") != float64(2) {
		t.Errorf("PDB = %v", pdb)
	}
}

func TestChartRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name, set, want string
	}{
		{"unknown redis mode", "redis.mode=galaxy", "/redis/mode"},
		{"replicas as text", "replicaCount=two", "replicaCount"},
		{"unknown top-level key", "colour=blue", "colour"},
		{"unknown exchange", "operator.defaultExchange=kraken", "defaultExchange"},
		{"sentinel without a master name", "redis.enabled=true,redis.mode=sentinel,redis.addrs[0]=s:26379", "masterName"},
		{"redis enabled without an address", "redis.enabled=true", "addrs"},
		{"client cache staleness without a unit", "redis.clientCache.maxStaleness=10", "maxStaleness"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", "hama", chart}
			if strings.Contains(tc.set, "=two") || strings.HasSuffix(tc.set, "maxStaleness=10") {
				args = append(args, "--set-string", tc.set)
			} else {
				args = append(args, "--set", tc.set)
			}
			out, err := sh(t, nil, helm, args...)
			if err == nil || !strings.Contains(out, "values don't meet the specifications of the schema") || !strings.Contains(out, tc.want) {
				t.Fatalf("helm accepted %s or said something else: %v\n%s", tc.set, err, out)
			}
		})
	}
}

func TestChartCRDsMatchTheGeneratedOnes(t *testing.T) {
	generated, _ := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	inChart, _ := filepath.Glob(filepath.Join(root, chart, "crds", "*.yaml"))
	if len(generated) == 0 || len(generated) != len(inChart) {
		t.Fatalf("%d generated CRDs, %d in the chart: run `make manifests`", len(generated), len(inChart))
	}
	for _, g := range generated {
		a, _ := os.ReadFile(g)
		b, err := os.ReadFile(filepath.Join(root, chart, "crds", filepath.Base(g)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s drifted from the chart's copy: run `make manifests`", filepath.Base(g))
		}
	}
}

// Every metric a dashboard query uses is one the operator exports (or controller-runtime's own).
func TestDashboardUsesOnlyExportedMetrics(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root, "internal", "metrics", "metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`Name:\s*"(hama_[a-z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		exported[m[1]] = true
	}
	if len(exported) < 10 {
		t.Fatalf("found only %d metric names in internal/metrics", len(exported))
	}
	raw, err := os.ReadFile(filepath.Join(root, chart, "dashboards", "hama-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := yaml.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	var unknown []string
	queries := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			queries++
			for _, name := range regexp.MustCompile(`\b(hama_[a-z0-9_]+|controller_runtime_[a-z0-9_]+)`).FindAllString(target.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
				if !exported[base] && !strings.HasPrefix(base, "controller_runtime_") {
					unknown = append(unknown, p.Title+": "+name)
				}
			}
		}
	}
	if queries < 10 || len(unknown) > 0 {
		t.Fatalf("%d queries; metrics the operator does not export: %v", queries, unknown)
	}
}

func TestDockerfileBuildsWhatItRuns(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, m := range regexp.MustCompile(`(?m)^COPY (\S+) `).FindAllStringSubmatch(df, -1) {
		if strings.HasPrefix(m[1], "--from") {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, strings.TrimSuffix(m[1], "/"))); err != nil {
			t.Errorf("COPY %s: no such path in the repository", m[1])
		}
	}
	if !strings.Contains(df, "-o manager ./cmd") || !strings.Contains(df, `ENTRYPOINT ["/manager"]`) ||
		!strings.Contains(df, "FROM gcr.io/distroless/static:nonroot") || !strings.Contains(df, "USER 65532:65532") ||
		!strings.Contains(df, "CGO_ENABLED=0") {
		t.Error("the Dockerfile must build ./cmd statically into /manager on distroless nonroot")
	}
}

// The kustomize install (dist/install.yaml) and the rendered chart are accepted by a real API
// server, and helm install creates what it promises.
func TestManifestsOnARealAPIServer(t *testing.T) {
	install := mustRun(t, nil, kustomize, "build", "config/default")
	objs := docs(t, install)
	dep := find(objs, "Deployment", "controller-manager")
	if dep == nil || get(dep, "metadata", "namespace") != "hama-operator-system" {
		t.Fatalf("install.yaml Deployment = %v", dep)
	}
	// CRDs and the namespace for real first: a server-side dry run of the rest needs them.
	var crdAndNS bytes.Buffer
	for _, o := range objs {
		if o["kind"] == "CustomResourceDefinition" || o["kind"] == "Namespace" {
			b, _ := yaml.Marshal(o)
			crdAndNS.WriteString("---\n")
			crdAndNS.Write(b)
		}
	}
	mustRun(t, crdAndNS.Bytes(), kubectl, "apply", "--server-side", "-f", "-")
	mustRun(t, nil, kubectl, "wait", "--for=condition=Established", "crd/analysisschedules.analysis.hama-operator.io", "--timeout=30s")
	mustRun(t, []byte(install), kubectl, "apply", "--dry-run=server", "-f", "-")
	mustRun(t, nil, kubectl, "apply", "--dry-run=server", "-n", "default", "-k", "config/samples")

	rendered := mustRun(t, nil, helm, "template", "dry", chart, "--namespace", "hama-operator-system", "--include-crds")
	mustRun(t, []byte(rendered), kubectl, "apply", "--dry-run=server", "-f", "-")

	mustRun(t, nil, helm, "install", "hama", chart, "--namespace", "hama-system", "--create-namespace", "--skip-crds",
		"--set", "grafana.dashboards.enabled=true")
	for _, obj := range []string{"deployment/hama-hama-operator", "service/hama-hama-operator-api", "service/hama-hama-operator-metrics",
		"serviceaccount/hama-hama-operator", "role/hama-hama-operator-leader-election", "rolebinding/hama-hama-operator-leader-election",
		"poddisruptionbudget/hama-hama-operator", "configmap/hama-hama-operator-dashboard"} {
		mustRun(t, nil, kubectl, "get", "-n", "hama-system", obj)
	}
	mustRun(t, nil, kubectl, "get", "clusterrole/hama-hama-operator-manager", "clusterrolebinding/hama-hama-operator-manager")
	if out, err := sh(t, nil, kubectl, "get", "-n", "hama-system", "servicemonitors.monitoring.coreos.com"); err == nil {
		t.Fatalf("ServiceMonitors exist before their CRD: %s", out)
	}

	mustRun(t, nil, kubectl, "apply", "-f", "test/delivery/testdata/servicemonitor-crd.yaml")
	mustRun(t, nil, kubectl, "wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=30s")
	mustRun(t, nil, helm, "install", "monitored", chart, "--namespace", "monitored", "--create-namespace", "--skip-crds",
		"--set", "serviceMonitor.enabled=true")
	mustRun(t, nil, kubectl, "get", "-n", "monitored", "servicemonitor/monitored-hama-operator")
}
