package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// The original service's clients are its Vue front end (quantdinger_vue/src/api/gainerAnalysis.js
// and the views that use it) and the calls its design document shows
// (trash/archive_docs/REDIS_SCHEDULER_GUIDE.md, HAMA_CACHE_CONFIG.md) and its routes' docstrings
// (backend_api_python/app/routes/gainer_analysis.py). Each call below is sent as they send it, body
// copied, and each field they read is checked: present, of the same JSON type, with a value in
// the original's set. The only addition is the bearer token on the calls that change something
// (docs/api.md, "Coming from the Python service").

// field is one field a client reads: a dotted path into data ("results.*" is every member,
// "symbols[]" every element), its JSON kind, and the values the original could give (none: any).
type field struct {
	path   string
	kind   string // string | bool | int | number | array | object
	values []any
}

// replayCall is one call of an original client.
type replayCall struct {
	source string // where the call is copied from
	method string
	path   string
	body   string // "" sends no body, as curl -X POST does
	token  bool
	read   []field
}

func TestOriginalClientsReplay(t *testing.T) {
	ctx := context.Background()
	s, _, raw := startSystemWithRedis(t)
	const frontEnd = "http://localhost:8000" // the Vue dev server's origin
	op := s.startOperator("operator-replay", "--api-cors-allowed-origins", frontEnd)
	token := s.token(ctx, "default", "dashboard")

	designDoc := "REDIS_SCHEDULER_GUIDE.md"
	started := []field{
		{"status", "string", []any{"started", "running"}},
		{"symbols_count", "int", []any{3.0}},
		{"interval_minutes", "number", []any{5.0}},
		{"cache_stats", "object", nil},
	}
	schedulerStatus := []field{
		{"running", "bool", nil},
		{"symbols_count", "int", nil},
		{"interval_minutes", "number", nil},
		{"cache_stats", "object", nil},
		{"cache_stats.available", "bool", nil},
		{"cache_stats.cached_symbols", "int", nil},
		{"cache_stats.cache_ttl_seconds", "int", nil},
	}
	cacheStats := []field{
		{"cache_type", "string", []any{"redis", "memory"}},
		{"cached_symbols", "int", nil},
		{"cache_duration_minutes", "number", nil},
		{"symbols", "array", nil},
		{"symbols[]", "string", nil},
		{"memory_cache_fallback", "int", nil},
	}
	// What the gainers page (quantdinger_vue/src/views/gainer-analysis/index.vue) reads of an
	// analysis, in its table and its detail drawer: the original service's view.
	legacyView := func(prefix string) []field {
		return []field{
			{prefix + "hama_analysis.trend", "string", []any{"uptrend", "downtrend", "sideways"}},
			{prefix + "hama_analysis.recommendation", "string", []any{"BUY", "SELL", "HOLD"}},
			{prefix + "hama_analysis.confidence", "number", nil},
			{prefix + "hama_analysis.technical_indicators.rsi", "number", nil},
			{prefix + "hama_analysis.technical_indicators.macd", "string", []any{"bullish", "bearish", "neutral"}},
			{prefix + "hama_analysis.technical_indicators.ema_20", "number", nil},
			{prefix + "hama_analysis.technical_indicators.ema_50", "number", nil},
			{prefix + "hama_analysis.technical_indicators.support_level", "number", nil},
			{prefix + "conditions.meets_buy_criteria", "bool", nil},
			{prefix + "conditions.meets_sell_criteria", "bool", nil},
			{prefix + "conditions.summary", "string", nil},
		}
	}
	analysis := append([]field{
		{"symbol", "string", []any{"BTCUSDT"}},
		{"cached", "bool", nil},
		{"is_cached", "bool", nil},
		{"timestamp", "string", nil},
		{"cached_at", "string", nil},
	}, legacyView("")...)
	gainersPage := append([]field{
		{"symbols", "array", nil},
		{"symbols[].symbol", "string", nil},
		{"symbols[].base_asset", "string", nil},
		{"symbols[].price", "number", nil},
		{"symbols[].price_change_percent", "number", nil},
		{"symbols[].volume", "number", nil},
	}, legacyView("symbols[].")...)
	batch := []field{
		{"results", "object", nil},
		{"results.*", "object", nil},
		{"results.BTCUSDT.symbol", "string", []any{"BTCUSDT"}},
		{"summary.total", "int", []any{3.0}},
		{"summary.success", "int", []any{3.0}},
		{"summary.failed", "int", []any{0.0}},
		{"summary.cached", "int", nil},
	}
	preload := []field{
		{"total", "int", []any{3.0}},
		{"success", "int", []any{3.0}},
		{"failed", "int", []any{0.0}},
		{"failed_symbols", "array", nil},
		{"duration", "number", nil},
	}
	calls := []replayCall{
		{designDoc + " 4", "POST", "scheduler/start", `{
    "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
    "interval_minutes": 5
  }`, true, started},
		{designDoc + " 3", "GET", "scheduler/status", "", false, schedulerStatus},
		{designDoc + " 2", "POST", "analyze-symbol", `{"symbol": "BTCUSDT"}`, false, analysis},
		{"HAMA_CACHE_CONFIG.md 5", "POST", "analyze-symbol", `{
  "symbol": "BTCUSDT",
  "force_refresh": false
}`, false, analysis},
		{"gainerAnalysis.js analyzeSymbol", "POST", "analyze-symbol", `{"symbol":"BTCUSDT"}`, false, analysis},
		{"gainer_analysis.py analyze_batch", "POST", "analyze-batch", `{
            "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
            "force_refresh": false
        }`, false, batch},
		{"gainer_analysis.py preload_symbols", "POST", "preload", `{
            "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        }`, true, preload},
		// The gainers page's calls (quantdinger_vue/src/api/gainerAnalysis.js), as it sends them.
		{"gainerAnalysis.js getTopGainers", "GET", "top-gainers?limit=20&market=spot", "", false, gainersPage},
		{"gainerAnalysis.js refreshAnalysis", "POST", "refresh", `{"limit":20,"market":"spot"}`, true, gainersPage},
		// After the analyses above, so that symbols[] has elements whose kind can be checked.
		{designDoc + " 1", "GET", "cache-stats", "", false, cacheStats},
	}
	api := "http://" + op.api + "/api/gainer-analysis/"
	for _, c := range calls {
		t.Run(c.source+" "+c.method+" "+c.path, func(t *testing.T) {
			tok := ""
			if c.token {
				tok = token
			}
			data := replay(t, c.method, api+c.path, c.body, tok)
			for _, f := range c.read {
				checkField(t, data, f)
			}
		})
	}

	t.Run("the front end's origin passes the preflight", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, api+"analyze-symbol", nil)
		req.Header.Set("Origin", frontEnd)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != frontEnd {
			t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
		}
	})

	// The schedule started above runs every 5 minutes. Stopped operator, flushed Redis, operator
	// started again: its results come back at once, not at its next run time.
	t.Run("results lost while the operator was down come back at once", func(t *testing.T) {
		keys := []string{"hama:analysis:BTCUSDT", "hama:analysis:ETHUSDT", "hama:analysis:SOLUSDT"}
		var before analysisv1alpha1.AnalysisScheduleStatus
		s.eventually("the scheduled run stored every symbol and set its next run", 60*time.Second, func() error {
			if n := raw.Exists(ctx, keys...).Val(); n != 3 {
				return fmt.Errorf("%d of 3 keys", n)
			}
			if before = s.get("default").Status; before.NextRunTime == nil {
				return fmt.Errorf("no next run time in the status yet")
			}
			return nil
		})
		if before.NextRunTime == nil || time.Until(before.NextRunTime.Time) < 2*time.Minute {
			t.Fatalf("next run at %v: too close to tell a refill from the scheduled run", before.NextRunTime)
		}
		op.kill()
		if err := raw.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		op = s.startOperator("operator-replay-restarted", "--api-cors-allowed-origins", frontEnd)
		s.eventually("the keys are back", 60*time.Second, func() error {
			if n := raw.Exists(ctx, keys...).Val(); n != 3 {
				return fmt.Errorf("%d of 3 keys", n)
			}
			return nil
		})
		if time.Now().After(before.NextRunTime.Time) {
			t.Fatalf("the keys came back only after the scheduled run at %s", before.NextRunTime)
		}
		api = "http://" + op.api + "/api/gainer-analysis/"
	})

	t.Run(designDoc+" 5 POST scheduler/stop", func(t *testing.T) {
		data := replay(t, "POST", api+"scheduler/stop", "", token)
		checkField(t, data, field{"status", "string", []any{"stopped"}})
		if !s.get("default").Spec.Suspend {
			t.Fatal("stop answered but the schedule is not suspended")
		}
	})
}

// replay sends one call and returns data from a 200 answer with code 1.
func replay(t *testing.T, method, url, body, token string) any {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		Code *int `json:"code"`
		Data any  `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil || resp.StatusCode != http.StatusOK || env.Code == nil || *env.Code != 1 {
		t.Fatalf("%s %s: %d %.500s", method, url, resp.StatusCode, b)
	}
	return env.Data
}

// checkField checks one field a client reads; see field.
func checkField(t *testing.T, data any, f field) {
	t.Helper()
	values := lookup(data, strings.Split(f.path, "."))
	if len(values) == 0 {
		t.Errorf("%s: missing", f.path)
	}
	for _, v := range values {
		if v == nil {
			t.Errorf("%s: missing", f.path)
			continue
		}
		// An integer is a number too; the original's ints stay ints.
		if kind := kindOf(v); kind != f.kind && (f.kind != "number" || kind != "int") {
			t.Errorf("%s = %v: a JSON %s, the original's is a %s", f.path, v, kind, f.kind)
			continue
		}
		if len(f.values) > 0 && !slices.Contains(f.values, normalized(v)) {
			t.Errorf("%s = %v: not one of the original's %v", f.path, v, f.values)
		}
	}
}

// lookup walks path; "*" takes every member of an object, "name[]" every element of an array.
// A missing member yields nil.
func lookup(v any, path []string) []any {
	if len(path) == 0 {
		return []any{v}
	}
	obj, _ := v.(map[string]any)
	step, each := strings.CutSuffix(path[0], "[]")
	if step == "*" {
		var out []any
		for _, m := range obj {
			out = append(out, lookup(m, path[1:])...)
		}
		return out
	}
	next, ok := obj[step]
	if !ok {
		return []any{nil}
	}
	if !each {
		return lookup(next, path[1:])
	}
	arr, _ := next.([]any)
	var out []any
	for _, e := range arr {
		out = append(out, lookup(e, path[1:])...)
	}
	return out
}

func kindOf(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "int"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// normalized turns numbers into float64 for comparison with the expected values.
func normalized(v any) any {
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		return f
	}
	return v
}

// token is a bearer token of a ServiceAccount allowed what the scheduler and preload calls need.
func (s *system) token(ctx context.Context, ns, name string) string {
	s.t.Helper()
	cs, err := kubernetes.NewForConfig(s.restConfig)
	if err != nil {
		s.t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{analysisv1alpha1.GroupVersion.Group},
			Resources: []string{"analysisschedules"}, Verbs: []string{"get", "list", "create", "patch", "update"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}}}
	for _, obj := range []client.Object{sa, role, binding} {
		if err := s.kube.Create(ctx, obj); err != nil {
			s.t.Fatal(err)
		}
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return tr.Status.Token
}
