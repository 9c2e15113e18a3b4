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

// all returns every object of kind.
func all(objs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
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
	dep := find(objs, "Deployment", "hama")
	if dep == nil {
		t.Fatal("no Deployment rendered")
	}
	if get(dep, "spec", "replicas") != float64(2) || get(dep, "spec", "revisionHistoryLimit") != float64(10) {
		t.Errorf("replicas = %v, revisionHistoryLimit = %v, want 2 and 10 by default", get(dep, "spec", "replicas"),
			get(dep, "spec", "revisionHistoryLimit"))
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
	if c["image"] != "ghcr.io/hama-operator/hama-operator:0.1.0" || pod["automountServiceAccountToken"] != true {
		t.Errorf("image = %v, automount = %v", c["image"], pod["automountServiceAccountToken"])
	}
	// helm install hama: the release name already names the chart, so it is not doubled.
	for _, want := range []struct{ kind, name string }{
		{"Deployment", "hama"}, {"PodDisruptionBudget", "hama"}, {"Service", "hama-api"}, {"Service", "hama-metrics"},
		{"ServiceAccount", "hama"}, {"ClusterRole", "hama-manager"}, {"ClusterRoleBinding", "hama-manager"},
		{"Role", "hama-leader-election"}, {"ClusterRole", "hama-metrics-reader"}, {"ClusterRole", "hama-view"}, {"ClusterRole", "hama-edit"},
		{"CustomResourceDefinition", "analysisschedules.analysis.hama-operator.io"},
		{"CustomResourceDefinition", "signalalerts.analysis.hama-operator.io"},
	} {
		if o := find(objs, want.kind, want.name); o == nil || get(o, "metadata", "name") != want.name {
			t.Errorf("no %s %s rendered", want.kind, want.name)
		}
	}
	for _, crd := range all(objs, "CustomResourceDefinition") {
		if get(crd, "metadata", "annotations", "helm.sh/resource-policy") != "keep" || get(crd, "metadata", "labels", "app.kubernetes.io/managed-by") != "Helm" {
			t.Errorf("CRD metadata = %v: want Helm's labels and the keep policy", get(crd, "metadata"))
		}
	}
	view, edit := find(objs, "ClusterRole", "hama-view"), find(objs, "ClusterRole", "hama-edit")
	if get(view, "metadata", "labels", "rbac.authorization.k8s.io/aggregate-to-view") != "true" ||
		get(edit, "metadata", "labels", "rbac.authorization.k8s.io/aggregate-to-edit") != "true" ||
		get(edit, "metadata", "labels", "rbac.authorization.k8s.io/aggregate-to-view") != nil {
		t.Errorf("aggregated roles: view %v, edit %v", get(view, "metadata", "labels"), get(edit, "metadata", "labels"))
	}
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "Secret"} {
		if find(objs, kind, "") != nil {
			t.Errorf("optional %s rendered by default", kind)
		}
	}
	if find(objs, "ConfigMap", "-dashboard") != nil {
		t.Error("optional dashboard rendered by default")
	}
	// Another release name gets the chart's name appended.
	other := docs(t, mustRun(t, nil, helm, "template", "prod", chart))
	if find(other, "Deployment", "prod-hama-operator") == nil {
		t.Error("helm install prod: want prod-hama-operator")
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
	dep := find(objs, "Deployment", "hama")
	pod := get(dep, "spec", "template", "spec").(map[string]any)
	c := get(pod, "containers", 0).(map[string]any)
	args := toStrings(c["args"])
	for _, want := range []string{"--redis-enabled=true", "--redis-addrs=hama-redis:6379", "--redis-db=2", "--redis-tls=true",
		"--redis-tls-ca-file=/etc/hama-operator/redis-ca/ca.crt", "--api-auth-reads=true", "--exchange-weight-per-minute=2400",
		"--redis-client-cache=false", "--redis-client-cache-max-staleness=30s",
		"--api-cors-allowed-origins=https://dash.example.com,http://localhost:8000"} {
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

	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	// Deployment and pod values.
	check("image (digest wins over tag)", c["image"], "registry.example/hama-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	check("pullPolicy", c["imagePullPolicy"], "Always")
	check("namespaceOverride", get(dep, "metadata", "namespace"), "hama-ops")
	check("commonLabels on the Deployment", get(dep, "metadata", "labels", "team"), "quant")
	check("commonLabels on the pod", get(dep, "spec", "template", "metadata", "labels", "team"), "quant")
	check("deploymentAnnotations", get(dep, "metadata", "annotations", "reloader.stakater.com/auto"), "true")
	check("revisionHistoryLimit", get(dep, "spec", "revisionHistoryLimit"), 3)
	check("strategy", get(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable"), 0)
	check("priorityClassName", pod["priorityClassName"], "system-cluster-critical")
	check("topologySpreadConstraints", get(pod, "topologySpreadConstraints", 0, "topologyKey"), "topology.kubernetes.io/zone")
	check("serviceAccount.name", pod["serviceAccountName"], "hama-sa")
	check("serviceAccount.automount on the pod", pod["automountServiceAccountToken"], false)
	check("extraVolumes (beside the Redis CA)", fmt.Sprint(get(pod, "volumes", 0, "name"), " ", get(pod, "volumes", 1, "name")), "redis-ca kube-api-token")
	check("extraVolumeMounts", get(c, "volumeMounts", 1, "mountPath"), "/var/run/secrets/kubernetes.io/serviceaccount")
	check("replicas", get(dep, "spec", "replicas"), 3)
	check("imagePullSecrets", get(pod, "imagePullSecrets", 0, "name"), "regcred")
	for _, want := range []string{"--leader-elect=false", "--interval-jitter-percentage=10", "--max-concurrent-runs=7",
		"--zap-log-level=debug", "--api-bind-address=:9080", "--metrics-bind-address=:9443", "--health-probe-bind-address=:9081",
		"--metrics-secure=true", "--default-exchange=binance-futures", "--default-timeframes=15m,1h", "--cache-default-ttl=30m"} {
		if !slices.Contains(args, want) {
			t.Errorf("args lack %s: %v", want, args)
		}
	}
	if !strings.Contains(env, "name:EXTRA value:1") {
		t.Errorf("extraEnv missing: %s", env)
	}
	check("resources", get(c, "resources", "requests", "memory"), "300Mi")
	check("podAnnotations", get(dep, "spec", "template", "metadata", "annotations", "prometheus.io/scrape"), "false")
	check("podLabels", get(dep, "spec", "template", "metadata", "labels", "tier"), "backend")
	check("podSecurityContext", get(pod, "securityContext", "runAsUser"), 65532)
	check("securityContext", get(c, "securityContext", "runAsGroup"), 65532)
	check("nodeSelector", get(pod, "nodeSelector", "kubernetes.io/os"), "linux")
	check("tolerations", get(pod, "tolerations", 0, "value"), "trading")
	check("affinity", get(pod, "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", 0, "weight"), 100)
	check("probes.port", get(c, "ports", 2, "containerPort"), 9081)
	apiSvc, metricsSvc := find(objs, "Service", "hama-api"), find(objs, "Service", "hama-metrics")
	check("api.service", fmt.Sprint(get(apiSvc, "spec", "type"), " ", get(apiSvc, "spec", "ports", 0, "port")), "NodePort 80")
	check("metrics.service.port", get(metricsSvc, "spec", "ports", 0, "port"), 443)
	check("redis.image", get(find(objs, "Deployment", "hama-redis"), "spec", "template", "spec", "containers", 0, "image"), "mirror.example/redis:7.4-alpine")
	sa := find(objs, "ServiceAccount", "hama-sa")
	check("serviceAccount.automount", get(sa, "automountServiceAccountToken"), false)
	check("serviceAccount.annotations", get(sa, "metadata", "annotations", "eks.amazonaws.com/role-arn"), "arn:aws:iam::1:role/hama")
	for _, o := range objs {
		if !strings.Contains(fmt.Sprint(get(o, "metadata", "name")), "-extra-") && get(o, "metadata", "labels", "team") != "quant" {
			t.Errorf("%s %v lacks commonLabels", o["kind"], get(o, "metadata", "name"))
		}
	}

	// CRDs installed by the release, without the keep policy.
	crds := all(objs, "CustomResourceDefinition")
	check("crds.install", len(crds), 2)
	for _, crd := range crds {
		check("crds.keep=false on "+fmt.Sprint(get(crd, "metadata", "name")), get(crd, "metadata", "annotations", "helm.sh/resource-policy"), nil)
	}

	// extraObjects, templated, as objects and as strings.
	check("extraObjects (object)", get(find(objs, "ConfigMap", "hama-extra-object"), "data", "chart"), "hama-operator")
	check("extraObjects (string)", find(objs, "ConfigMap", "hama-extra-string") != nil, true)

	// Monitoring: the ServiceMonitor in Prometheus's namespace, scraping with Prometheus's token.
	sm := find(objs, "ServiceMonitor", "")
	ep := get(sm, "spec", "endpoints", 0).(map[string]any)
	check("serviceMonitor.namespace", get(sm, "metadata", "namespace"), "monitoring")
	check("serviceMonitor.additionalLabels", get(sm, "metadata", "labels", "release"), "prometheus")
	check("serviceMonitor.interval", ep["interval"], "15s")
	check("serviceMonitor.scrapeTimeout", ep["scrapeTimeout"], "10s")
	check("serviceMonitor.honorLabels", ep["honorLabels"], true)
	check("serviceMonitor.relabelings", get(ep, "relabelings", 0, "targetLabel"), "node")
	check("serviceMonitor.metricRelabelings", get(ep, "metricRelabelings", 0, "action"), "drop")
	check("the operator's namespace selected", get(sm, "spec", "namespaceSelector", "matchNames", 0), "hama-ops")
	check("bearer token from a Secret", fmt.Sprint(get(ep, "authorization", "type"), " ", get(ep, "authorization", "credentials", "name")), "Bearer prometheus-k8s-token")
	check("no deprecated bearerTokenFile", ep["bearerTokenFile"], nil)
	token := find(objs, "Secret", "prometheus-k8s-token")
	check("token Secret type", get(token, "type"), "kubernetes.io/service-account-token")
	check("token Secret owner", get(token, "metadata", "annotations", "kubernetes.io/service-account.name"), "prometheus-k8s")
	check("token Secret namespace", get(token, "metadata", "namespace"), "monitoring")
	reader := find(objs, "ClusterRoleBinding", "hama-metrics-reader")
	check("metrics-reader bound to Prometheus", fmt.Sprint(get(reader, "subjects", 0, "namespace"), "/", get(reader, "subjects", 0, "name")), "monitoring/prometheus-k8s")
	check("no scraper ServiceAccount of our own", find(objs, "ServiceAccount", "-metrics-scraper") != nil, false)
	rule := find(objs, "PrometheusRule", "")
	check("prometheusRule.namespace", get(rule, "metadata", "namespace"), "monitoring")
	check("prometheusRule.additionalLabels", get(rule, "metadata", "labels", "release"), "prometheus")

	cm := find(objs, "ConfigMap", "-dashboard")
	if cm == nil || get(cm, "metadata", "labels", "grafana_dashboard_hama") != "yes" || get(cm, "metadata", "namespace") != "grafana" ||
		!strings.Contains(fmt.Sprint(get(cm, "data", "hama-operator.json")), "hama_cache_requests_total") {
		t.Errorf("dashboard ConfigMap = %v", cm != nil)
	}
	if find(objs, "Deployment", "-redis") == nil || find(objs, "Service", "-redis") == nil {
		t.Error("bundled Redis missing")
	}
	if s := find(objs, "AnalysisSchedule", "top-gainers"); get(s, "metadata", "namespace") != "hama-ops" {
		t.Errorf("schedule from values = %v", s)
	}
	alert := find(objs, "SignalAlert", "crosses-to-slack")
	check("alerts: namespace", get(alert, "metadata", "namespace"), "hama-ops")
	check("alerts: spec", fmt.Sprint(get(alert, "spec", "provider", "type"), " ", get(alert, "spec", "provider", "secretRef", "name"),
		" ", get(alert, "spec", "cooldown"), " ", get(alert, "spec", "schedules", 0)), "slack slack-webhook 15m top-gainers")
	if pdb := find(objs, "PodDisruptionBudget", ""); get(pdb, "spec", "minAvailable") != float64(2) {
		t.Errorf("PDB = %v", pdb)
	}
}

// The switches that remove objects: rbac.create, rbac.aggregateClusterRoles, crds.install, and the
// monitoring objects, which need their CRD served (or skipCRDCheck).
func TestChartSwitches(t *testing.T) {
	render := func(args ...string) []map[string]any {
		t.Helper()
		return docs(t, mustRun(t, nil, helm, append([]string{"template", "hama", chart}, args...)...))
	}
	objs := render("--set", "rbac.create=false,crds.install=false,serviceAccount.create=false")
	for _, kind := range []string{"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "CustomResourceDefinition", "ServiceAccount"} {
		if o := find(objs, kind, ""); o != nil {
			t.Errorf("%s %v rendered with rbac.create, crds.install and serviceAccount.create false", kind, get(o, "metadata", "name"))
		}
	}
	if got := get(find(objs, "Deployment", "hama"), "spec", "template", "spec", "serviceAccountName"); got != "default" {
		t.Errorf("serviceAccountName without a created account = %v", got)
	}
	objs = render("--set", "image.tag=v2,nameOverride=analysis,podDisruptionBudget.enabled=false")
	if got := get(find(objs, "Deployment", "hama-analysis"), "spec", "template", "spec", "containers", 0, "image"); got != "ghcr.io/hama-operator/hama-operator:v2" {
		t.Errorf("nameOverride or image.tag: image = %v", got)
	}
	if find(objs, "PodDisruptionBudget", "") != nil {
		t.Error("PDB rendered with podDisruptionBudget.enabled=false")
	}
	if find(render("--set", "fullnameOverride=trading"), "Service", "trading-api") == nil {
		t.Error("fullnameOverride not used")
	}
	objs = render("--set", "redis.enabled=true,redis.mode=sentinel,redis.masterName=mymaster,redis.addrs[0]=s1:26379,redis.addrs[1]=s2:26379")
	args := toStrings(get(find(objs, "Deployment", "hama"), "spec", "template", "spec", "containers", 0, "args"))
	for _, want := range []string{"--redis-mode=sentinel", "--redis-master-name=mymaster", "--redis-addrs=s1:26379,s2:26379"} {
		if !slices.Contains(args, want) {
			t.Errorf("args lack %s: %v", want, args)
		}
	}
	if find(render("--set", "rbac.aggregateClusterRoles=false"), "ClusterRole", "hama-view") != nil {
		t.Error("aggregated view role rendered with rbac.aggregateClusterRoles=false")
	}

	monitoring := []string{"--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true"}
	objs = render(monitoring...)
	if find(objs, "ServiceMonitor", "") != nil || find(objs, "PrometheusRule", "") != nil {
		t.Error("ServiceMonitor or PrometheusRule rendered although the cluster does not serve their CRDs")
	}
	objs = render(append(monitoring, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule")...)
	if find(objs, "ServiceMonitor", "") == nil || find(objs, "PrometheusRule", "") == nil {
		t.Fatal("ServiceMonitor or PrometheusRule missing although their CRDs are served")
	}
	// Secure metrics by default: a scraper account of the chart's own, bound to metrics-reader.
	ep := get(find(objs, "ServiceMonitor", ""), "spec", "endpoints", 0).(map[string]any)
	if ep["scheme"] != "https" || get(ep, "authorization", "credentials", "name") != "hama-metrics-scraper-token" || ep["honorLabels"] != false {
		t.Errorf("secure endpoint = %v", ep)
	}
	if find(objs, "ServiceAccount", "hama-metrics-scraper") == nil || get(find(objs, "ClusterRoleBinding", "hama-metrics-reader"), "subjects", 0, "name") != "hama-metrics-scraper" {
		t.Error("no scraper ServiceAccount bound to metrics-reader")
	}
	objs = render(append(monitoring, "--set", "serviceMonitor.skipCRDCheck=true,metrics.secure=false")...)
	ep = get(find(objs, "ServiceMonitor", ""), "spec", "endpoints", 0).(map[string]any)
	if ep["port"] != "http" || ep["authorization"] != nil || find(objs, "Secret", "") != nil || find(objs, "ClusterRoleBinding", "metrics-reader") != nil {
		t.Errorf("plain-HTTP metrics still carry auth: %v", ep)
	}
	if find(objs, "PrometheusRule", "") != nil {
		t.Error("serviceMonitor.skipCRDCheck forced the PrometheusRule too")
	}
}

// An umbrella chart can use this one as a subchart: Helm passes global values down, and the
// schema, strict about everything else, accepts them.
func TestChartWorksAsASubchart(t *testing.T) {
	dir := t.TempDir()
	abs, err := filepath.Abs(filepath.Join(root, chart))
	if err != nil {
		t.Fatal(err)
	}
	umbrella := fmt.Sprintf(`apiVersion: v2
name: platform
version: 1.0.0
dependencies:
- name: hama-operator
  version: 0.2.0
  repository: file://%s
`, abs)
	if err := os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte(umbrella), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "values.yaml"), []byte("global: {imageRegistry: r.example}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, nil, helm, "dependency", "build", dir)
	objs := docs(t, mustRun(t, nil, helm, "template", "platform", dir))
	if find(objs, "Deployment", "platform-hama-operator") == nil {
		t.Fatal("the subchart rendered no Deployment")
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
		{"image digest without its algorithm", "image.digest=0123abcd", "digest"},
		{"unknown serviceMonitor key", "serviceMonitor.labels.release=prometheus", "labels"},
		{"scrape timeout without a unit", "serviceMonitor.scrapeTimeout=10", "scrapeTimeout"},
		{"unknown update strategy", "strategy.type=BlueGreen", "strategy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", "hama", chart}
			if strings.Contains(tc.set, "=two") || strings.HasSuffix(tc.set, "=10") {
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
	inChart, _ := filepath.Glob(filepath.Join(root, chart, "files", "crds", "*.yaml"))
	if len(generated) == 0 || len(generated) != len(inChart) {
		t.Fatalf("%d generated CRDs, %d in the chart: run `make manifests`", len(generated), len(inChart))
	}
	for _, g := range generated {
		a, _ := os.ReadFile(g)
		b, err := os.ReadFile(filepath.Join(root, chart, "files", "crds", filepath.Base(g)))
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
	for _, m := range regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(hama_[a-z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		exported[m[1]] = true
	}
	if len(exported) < 10 {
		t.Fatalf("found only %d metric names in internal/metrics", len(exported))
	}
	dash, err := testenv.LoadDashboard()
	if err != nil {
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

// helm install creates what it promises, with the CRD; helm upgrade updates the CRD too; helm
// uninstall keeps it. NOTES.txt's commands work as printed.
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	mustRun(t, nil, helm, "install", "hama", chart, "--namespace", "hama-system", "--create-namespace",
		"--set", "grafana.dashboards.enabled=true")
	for _, obj := range []string{"deployment/hama", "service/hama-api", "service/hama-metrics", "serviceaccount/hama",
		"role/hama-leader-election", "rolebinding/hama-leader-election", "poddisruptionbudget/hama", "configmap/hama-dashboard"} {
		mustRun(t, nil, kubectl, "get", "-n", "hama-system", obj)
	}
	mustRun(t, nil, kubectl, "get", "clusterrole/hama-manager", "clusterrolebinding/hama-manager", "clusterrole/hama-view", "clusterrole/hama-edit")
	crds := []string{"crd/analysisschedules.analysis.hama-operator.io", "crd/signalalerts.analysis.hama-operator.io"}
	mustRun(t, nil, kubectl, append([]string{"wait", "--for=condition=Established", "--timeout=30s"}, crds...)...)

	// NOTES.txt's "create a schedule" block, pasted into a shell as printed.
	notes := mustRun(t, nil, helm, "get", "notes", "hama", "--namespace", "hama-system")
	block := notesBlock(t, notes, "Create a schedule and watch it:")
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+filepath.Dir(kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("NOTES.txt commands failed: %v\n%s\n%s", err, block, out)
	}
	if !strings.Contains(string(out), "top-gainers") {
		t.Fatalf("kubectl get asched printed no schedule:\n%s", out)
	}
	mustRun(t, nil, kubectl, "get", "-n", "hama-system", "analysisschedule/top-gainers")
	mustRun(t, nil, kubectl, "delete", "-n", "hama-system", "analysisschedule/top-gainers", "--wait=false")

	// The CRDs belong to the release: an upgrade changes them.
	mustRun(t, nil, helm, "upgrade", "hama", chart, "--namespace", "hama-system", "--set", "commonLabels.upgraded=yes")
	for _, crd := range crds {
		if got := mustRun(t, nil, kubectl, "get", crd, "-o", "jsonpath={.metadata.labels.upgraded}"); got != "yes" {
			t.Errorf("helm upgrade did not update %s: label upgraded = %q", crd, got)
		}
	}
	mustRun(t, nil, helm, "uninstall", "hama", "--namespace", "hama-system")
	mustRun(t, nil, kubectl, append([]string{"get"}, crds...)...)
	if out, err := sh(t, nil, kubectl, "get", "-n", "hama-system", "deployment/hama"); err == nil {
		t.Errorf("the Deployment outlived helm uninstall: %s", out)
	}
}

// notesBlock returns the lines after heading up to the next blank line.
func notesBlock(t *testing.T, notes, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(notes, heading+"\n")
	if !ok {
		t.Fatalf("NOTES.txt has no %q:\n%s", heading, notes)
	}
	rest = strings.TrimLeft(rest, "\n")
	block, _, _ := strings.Cut(rest, "\n\n")
	return block
}

// The kustomize install (dist/install.yaml) and the rendered chart are accepted by a real API
// server; with the ServiceMonitor CRD served the chart adds a ServiceMonitor whose scraper may read
// /metrics.
func TestManifestsOnARealAPIServer(t *testing.T) {
	install := mustRun(t, nil, kustomize, "build", "config/default")
	objs := docs(t, install)
	dep := find(objs, "Deployment", "controller-manager")
	if dep == nil || get(dep, "metadata", "namespace") != "hama-operator-system" {
		t.Fatalf("install.yaml Deployment = %v", dep)
	}
	// CRDs and the namespace for real first: a server-side dry run of the rest needs them. The CRD
	// may already be there, kept by an uninstalled Helm release.
	var crdAndNS bytes.Buffer
	for _, o := range objs {
		if o["kind"] == "CustomResourceDefinition" || o["kind"] == "Namespace" {
			b, _ := yaml.Marshal(o)
			crdAndNS.WriteString("---\n")
			crdAndNS.Write(b)
		}
	}
	mustRun(t, crdAndNS.Bytes(), kubectl, "apply", "--server-side", "--force-conflicts", "-f", "-")
	mustRun(t, nil, kubectl, "wait", "--for=condition=Established", "crd/analysisschedules.analysis.hama-operator.io",
		"crd/signalalerts.analysis.hama-operator.io", "--timeout=30s")
	mustRun(t, []byte(install), kubectl, "apply", "--dry-run=server", "-f", "-")
	mustRun(t, nil, kubectl, "apply", "--dry-run=server", "-n", "default", "-k", "config/samples")

	// Every option (the CRD already being there), in namespaces that exist.
	rendered := mustRun(t, nil, helm, "template", "dry", chart, "--namespace", "hama-operator-system",
		"-f", "test/delivery/testdata/all-options.yaml", "--set", "namespaceOverride=hama-operator-system,crds.install=false",
		"--set", "grafana.dashboards.namespace=hama-operator-system,serviceMonitor.enabled=false,prometheusRule.enabled=false")
	mustRun(t, []byte(rendered), kubectl, "apply", "--dry-run=server", "-f", "-")

	installServiceMonitorCRD(t)
	mustRun(t, nil, helm, "install", "monitored", chart, "--namespace", "monitored", "--create-namespace",
		"--set", "serviceMonitor.enabled=true,crds.install=false")
	mustRun(t, nil, kubectl, "get", "-n", "monitored", "servicemonitor/monitored-hama-operator", "secret/monitored-hama-operator-metrics-scraper-token")
	scraper := "system:serviceaccount:monitored:monitored-hama-operator-metrics-scraper"
	scraperReadsOnlyMetrics(t, scraper)
}

// The kustomize ServiceMonitor (config/prometheus, enabled by uncommenting it in config/default)
// scrapes with a token from a Secret, not the deprecated bearerTokenFile, and that token's account
// is bound to metrics-reader, may read /metrics and nothing more.
func TestKustomizeServiceMonitorScrapesWithABoundToken(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "config"))); err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(dir, "default", "kustomization.yaml")
	raw, err := os.ReadFile(def)
	if err != nil {
		t.Fatal(err)
	}
	enabled := strings.Replace(string(raw), "#- ../prometheus", "- ../prometheus", 1)
	if enabled == string(raw) {
		t.Fatal("config/default/kustomization.yaml no longer has the line `#- ../prometheus` to uncomment")
	}
	if err := os.WriteFile(def, []byte(enabled), 0o600); err != nil {
		t.Fatal(err)
	}
	objs := docs(t, mustRun(t, nil, kustomize, "build", filepath.Join(dir, "default")))
	sm := find(objs, "ServiceMonitor", "")
	ep, _ := get(sm, "spec", "endpoints", 0).(map[string]any)
	if ep["bearerTokenFile"] != nil || fmt.Sprint(get(ep, "authorization", "type"), " ", get(ep, "authorization", "credentials", "name")) !=
		"Bearer hama-operator-metrics-scraper-token" {
		t.Fatalf("ServiceMonitor endpoint = %v: want authorization from the scraper's token Secret", ep)
	}
	token := find(objs, "Secret", "hama-operator-metrics-scraper-token")
	if get(token, "type") != "kubernetes.io/service-account-token" ||
		get(token, "metadata", "annotations", "kubernetes.io/service-account.name") != "hama-operator-metrics-scraper" ||
		get(token, "metadata", "namespace") != get(sm, "metadata", "namespace") {
		t.Fatalf("token Secret = %v", token)
	}

	// The monitoring objects for real (the fixture CRD stands for the Prometheus Operator's).
	installServiceMonitorCRD(t)
	var monitoring bytes.Buffer
	for _, o := range objs {
		name := fmt.Sprint(get(o, "metadata", "name"))
		if o["kind"] == "Namespace" || o["kind"] == "ServiceMonitor" || strings.Contains(name, "metrics-reader") ||
			strings.Contains(name, "metrics-scraper") {
			b, _ := yaml.Marshal(o)
			monitoring.WriteString("---\n")
			monitoring.Write(b)
		}
	}
	mustRun(t, monitoring.Bytes(), kubectl, "apply", "-f", "-")
	scraper := "system:serviceaccount:hama-operator-system:hama-operator-metrics-scraper"
	scraperReadsOnlyMetrics(t, scraper)
}

// The chart's manager ClusterRole (written by hand, with the API's authentication rights added)
// grants every right the kubebuilder markers generate into config/rbac/role.yaml, so a new marker
// cannot leave the chart behind.
func TestChartManagerRoleCoversTheGeneratedOne(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	generated := docs(t, string(raw))
	chartRole := find(docs(t, mustRun(t, nil, helm, "template", "hama", chart)), "ClusterRole", "hama-manager")
	if len(generated) != 1 || chartRole == nil {
		t.Fatalf("%d generated roles, chart role %v", len(generated), chartRole != nil)
	}
	grants := func(role map[string]any) map[string]bool {
		out := map[string]bool{}
		rules, _ := role["rules"].([]any)
		for _, r := range rules {
			rule, _ := r.(map[string]any)
			for _, g := range toStrings(rule["apiGroups"]) {
				for _, res := range toStrings(rule["resources"]) {
					for _, v := range toStrings(rule["verbs"]) {
						out[g+" "+res+" "+v] = true
					}
				}
			}
		}
		return out
	}
	have := grants(chartRole)
	var missing []string
	for g := range grants(generated[0]) {
		if !have[g] {
			missing = append(missing, g)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("the chart's manager ClusterRole lacks what the markers generate: %v", missing)
	}
}

// installServiceMonitorCRD applies the fixture that stands for the Prometheus Operator's CRD.
func installServiceMonitorCRD(t *testing.T) {
	t.Helper()
	mustRun(t, nil, kubectl, "apply", "-f", "test/delivery/testdata/servicemonitor-crd.yaml")
	mustRun(t, nil, kubectl, "wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=30s")
}

// scraperReadsOnlyMetrics checks that the ServiceMonitor's account may get /metrics and not list Secrets.
func scraperReadsOnlyMetrics(t *testing.T, scraper string) {
	t.Helper()
	if got := mustRun(t, nil, kubectl, "auth", "can-i", "get", "/metrics", "--as", scraper); strings.TrimSpace(got) != "yes" {
		t.Errorf("the ServiceMonitor's scraper may not get /metrics: %s", got)
	}
	if got, _ := sh(t, nil, kubectl, "auth", "can-i", "list", "secrets", "--as", scraper); strings.TrimSpace(got) != "no" {
		t.Errorf("the scraper may do more than read metrics: list secrets = %s", got)
	}
}
