package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/cache/redistest"
	"github.com/hama-operator/hama-operator/internal/market/binance/binancetest"
	"github.com/hama-operator/hama-operator/internal/testenv"
)

// scrapeInterval of the test's Prometheus; Grafana's $__rate_interval derives from it.
const scrapeInterval = time.Second

// Debian's prometheus scrapes a running operator twice — with plain static labels, and with the
// target labels the Prometheus Operator adds (namespace, pod, service, endpoint, container, job) —
// and every variable and query of the Grafana dashboard is evaluated as Grafana would: variables
// resolved through label_values, then substituted with $__interval and $__rate_interval into
// range queries. A variable that lists nothing, or a query that draws nothing, fails the test.
func TestDashboardShowsDataInAHealthySystem(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: install Debian's server with `apt-get install -y prometheus`")
	}
	ctx := context.Background()
	s := startSystem(t)
	s.redisAddr = redistest.Start(t).Addr()
	op := s.startOperator("operator-1")

	// The same schedule name in two namespaces: panels must keep them apart.
	for _, ns := range []string{"team-a", "team-b"} {
		if err := s.kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		sched := schedule("gainers", []string{"BTCUSDT", "ETHUSDT"}, analysisv1alpha1.ExchangeBinance, s.exchange.URL)
		sched.Namespace = ns
		if err := s.kube.Create(ctx, sched); err != nil {
			t.Fatal(err)
		}
	}
	// A SignalAlert, so that the notification panels have series (at zero until an event comes).
	if err := s.kube.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: "team-a"},
		StringData: map[string]string{"address": "http://127.0.0.1:9/hook"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.kube.Create(ctx, &analysisv1alpha1.SignalAlert{ObjectMeta: metav1.ObjectMeta{Name: "crosses", Namespace: "team-a"},
		Spec: analysisv1alpha1.SignalAlertSpec{Provider: analysisv1alpha1.NotificationProvider{
			Type: analysisv1alpha1.ProviderWebhook, SecretRef: &analysisv1alpha1.SecretReference{Name: "hook"}}}}); err != nil {
		t.Fatal(err)
	}

	// A stream-mode schedule on an exchange of the test's own (REST and WebSocket), whose candles
	// close during the run, so that the stream panels draw real closes, not only zeros.
	streamed := binancetest.New(time.Time{})
	t.Cleanup(streamed.Close)
	live := schedule("streamed", []string{"BTCUSDT", "ETHUSDT"}, analysisv1alpha1.ExchangeBinance, streamed.URL)
	live.Namespace = "team-a"
	live.Spec.Timeframes = []analysisv1alpha1.Timeframe{"1m"}
	live.Spec.Source.Mode = analysisv1alpha1.ModeStream
	live.Spec.Source.StreamURL = streamed.StreamURL
	if err := s.kube.Create(ctx, live); err != nil {
		t.Fatal(err)
	}
	s.eventually("the stream-mode schedule carries its streams", 60*time.Second, func() error {
		if st := streamed.Stats(); st.Streams != 2 {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})

	plain := startPrometheus(t, promBin, op.metrics, nil)
	asOperator := startPrometheus(t, promBin, op.metrics, map[string]string{
		"namespace": "hama-system", "pod": "hama-7c9d5b-x2x4q", "service": "hama-metrics",
		"endpoint": "http", "container": "manager", "job": "hama-metrics",
	})
	start := time.Now()

	// Two refresh intervals of a healthy system with a client reading through the API, and a 1m
	// candle closing on the stream every round.
	for time.Since(start) < 2*interval+3*time.Second {
		streamed.Advance(time.Minute)
		for _, call := range []func() error{
			func() error { _, err := httpGet("http://" + op.api + "/api/gainer-analysis/cache-stats"); return err },
			func() error {
				_, _, err := post("http://"+op.api+"/api/gainer-analysis/analyze-symbol", `{"symbol":"BTCUSDT"}`)
				return err
			},
		} {
			if err := call(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}

	dash, err := testenv.LoadDashboard()
	if err != nil {
		t.Fatal(err)
	}
	for name, prom := range map[string]*prometheus{"plain static labels": plain, "Prometheus Operator labels": asOperator} {
		t.Run(name, func(t *testing.T) {
			end := time.Now()
			vars := prom.resolveVariables(t, dash, start, end)
			if got := vars["namespace"]; !slices.Contains(got, "team-a") || !slices.Contains(got, "team-b") {
				t.Errorf("$namespace lists %v, want both schedule namespaces", got)
			}
			for _, p := range dash.Panels {
				for _, target := range p.Targets {
					q := expandQuery(target.Expr, vars, end.Sub(start))
					if !prom.drawsSomething(t, q, start, end) {
						t.Errorf("panel %q draws nothing: %s", p.Title, q)
					}
				}
			}
			if prom.drawsSomething(t, `{exported_namespace!=""}`, start, end) {
				t.Error("a scraped namespace label clashed with the target's (exported_namespace exists)")
			}
		})
	}
}

type prometheus struct {
	addr string
}

// startPrometheus runs prometheus on a free loopback port with its storage in a temporary
// directory, scraping target every second; targetLabels are set by relabelling, as the Prometheus
// Operator does. It is stopped when the test ends, and killed should the test process die first.
func startPrometheus(t *testing.T, bin, target string, targetLabels map[string]string) *prometheus {
	dir := t.TempDir()
	var relabel strings.Builder
	for _, k := range slices.Sorted(maps.Keys(targetLabels)) {
		fmt.Fprintf(&relabel, "  - {target_label: %s, replacement: %q}\n", k, targetLabels[k])
	}
	config := fmt.Sprintf(`global: {scrape_interval: %s, scrape_timeout: %s}
scrape_configs:
- job_name: hama-operator
  static_configs: [{targets: [%q]}]
  relabel_configs:
%s`, scrapeInterval, scrapeInterval, target, relabel.String())
	if targetLabels == nil {
		config = strings.TrimSuffix(config, "  relabel_configs:\n")
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{addr: freeAddr(t)}
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+p.addr, "--log.level=warn")
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("prometheus log:\n%s", b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := httpGet("http://" + p.addr + "/-/ready"); err == nil {
			return p
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("prometheus did not become ready on %s:\n%s", p.addr, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (p *prometheus) api(t *testing.T, path string, params url.Values) json.RawMessage {
	t.Helper()
	body, err := httpGet("http://" + p.addr + path + "?" + params.Encode())
	if err != nil {
		t.Fatalf("%v", err)
	}
	var resp struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.Status != "success" {
		t.Fatalf("%s %v: %s %s", path, params, resp.Error, body)
	}
	return resp.Data
}

var labelValuesQuery = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

// resolveVariables answers each query variable as Grafana's Prometheus data source does:
// label_values(selector, label) asks /api/v1/label/<label>/values with match[]=selector over the
// dashboard's time range, after substituting the variables before it (every value selected).
func (p *prometheus) resolveVariables(t *testing.T, d testenv.Dashboard, start, end time.Time) map[string][]string {
	vars := map[string][]string{}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesQuery.FindStringSubmatch(v.Query)
		if m == nil {
			t.Fatalf("variable %s: %q is not label_values(selector, label)", v.Name, v.Query)
		}
		params := url.Values{"match[]": {expandQuery(m[1], vars, end.Sub(start))},
			"start": {unix(start)}, "end": {unix(end)}}
		var values []string
		if err := json.Unmarshal(p.api(t, "/api/v1/label/"+m[2]+"/values", params), &values); err != nil {
			t.Fatal(err)
		}
		if len(values) == 0 {
			t.Errorf("variable $%s lists nothing: %s", v.Name, v.Query)
		}
		vars[v.Name] = values
	}
	return vars
}

// expandQuery substitutes variables as Grafana does with every value of a multi-value variable
// selected, (a|b) with regex characters escaped, and the interval variables for a panel about
// 1000 points wide whose minimum interval is the scrape interval.
func expandQuery(q string, vars map[string][]string, timeRange time.Duration) string {
	step := stepFor(timeRange)
	rateInterval := max(step+scrapeInterval, 4*scrapeInterval)
	q = strings.ReplaceAll(q, "$__rate_interval", promDuration(rateInterval))
	q = strings.ReplaceAll(q, "$__interval", promDuration(step))
	q = strings.ReplaceAll(q, "$__range", promDuration(timeRange))
	for name, values := range vars {
		quoted := make([]string, len(values))
		for i, v := range values {
			quoted[i] = regexp.QuoteMeta(v)
		}
		q = strings.ReplaceAll(q, "$"+name, "("+strings.Join(quoted, "|")+")")
	}
	return q
}

func stepFor(timeRange time.Duration) time.Duration {
	return max((timeRange / 1000).Round(time.Second), scrapeInterval)
}

func promDuration(d time.Duration) string { return strconv.Itoa(int(d.Seconds())) + "s" }

func unix(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }

// drawsSomething runs q as the panel's range query and reports whether any point is a number.
func (p *prometheus) drawsSomething(t *testing.T, q string, start, end time.Time) bool {
	t.Helper()
	params := url.Values{"query": {q}, "start": {unix(start)}, "end": {unix(end)},
		"step": {promDuration(stepFor(end.Sub(start)))}}
	var matrix struct {
		Result []struct {
			Values [][2]any `json:"values"`
		} `json:"result"`
	}
	if err := json.Unmarshal(p.api(t, "/api/v1/query_range", params), &matrix); err != nil {
		t.Fatal(err)
	}
	for _, series := range matrix.Result {
		for _, point := range series.Values {
			if v, err := strconv.ParseFloat(fmt.Sprint(point[1]), 64); err == nil && !math.IsNaN(v) {
				return true
			}
		}
	}
	return false
}
