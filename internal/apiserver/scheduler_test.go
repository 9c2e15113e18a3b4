package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// call sends a request to the API under test and decodes the envelope.
func call(method, path, token string, body any) (int, envelope, json.RawMessage) {
	GinkgoHelper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		Expect(err).NotTo(HaveOccurred())
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, apiURL+path, r)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	Expect(resp.Header.Get("Content-Type")).To(Equal("application/json"))
	var env struct {
		envelope
		Data json.RawMessage `json:"data"`
	}
	Expect(json.NewDecoder(resp.Body).Decode(&env)).To(Succeed())
	return resp.StatusCode, env.envelope, env.Data
}

// serviceAccountToken creates a ServiceAccount and returns a token for it from the TokenRequest API.
func serviceAccountToken(ctx context.Context, ns, name string) string {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})).To(Succeed())
	tr, err := clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	Expect(tr.Status.Token).NotTo(BeEmpty())
	return tr.Status.Token
}

// grant binds a Role with verbs on analysisschedules in ns to the ServiceAccount.
func grant(ctx context.Context, ns, serviceAccount string, verbs ...string) {
	GinkgoHelper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: serviceAccount + "-schedules"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{analysisv1alpha1.GroupVersion.Group},
			Resources: []string{"analysisschedules"}, Verbs: verbs}}}
	Expect(k8sClient.Create(ctx, role)).To(Succeed())
	Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: serviceAccount}},
	})).To(Succeed())
}

var _ = Describe("scheduler routes with Kubernetes authentication", Ordered, func() {
	const ns = "api-default"
	var (
		ctx                      = context.Background()
		editor, patcher, outside string
	)

	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		editor = serviceAccountToken(ctx, ns, "editor")
		patcher = serviceAccountToken(ctx, ns, "patcher")
		outside = serviceAccountToken(ctx, ns, "outsider")
		grant(ctx, ns, "editor", "get", "list", "create", "patch", "update")
		grant(ctx, ns, "patcher", "get", "patch")
	})

	schedule := func(name string) *analysisv1alpha1.AnalysisSchedule {
		GinkgoHelper()
		obj := &analysisv1alpha1.AnalysisSchedule{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)).To(Succeed())
		return obj
	}
	start := map[string]any{"symbols": []string{"BTCUSDT", "ETHUSDT"}, "interval_minutes": 10}

	It("refuses a call without a token with 401", func() {
		status, env, _ := call("POST", "/api/gainer-analysis/scheduler/start", "", start)
		Expect(status).To(Equal(http.StatusUnauthorized))
		Expect(env.Code).To(Equal(0))
		Expect(env.Msg).To(ContainSubstring("bearer token"))
	})

	It("refuses a token the API server did not issue with 401", func() {
		status, env, _ := call("POST", "/api/gainer-analysis/scheduler/start", "not-a-real-token", start)
		Expect(status).To(Equal(http.StatusUnauthorized))
		Expect(env.Msg).To(ContainSubstring("not valid"))
	})

	It("refuses a ServiceAccount without RBAC on analysisschedules with 403", func() {
		status, env, _ := call("POST", "/api/gainer-analysis/scheduler/start", outside, start)
		Expect(status).To(Equal(http.StatusForbidden))
		Expect(env.Msg).To(ContainSubstring("system:serviceaccount:api-default:outsider may not patch"))
		status, _, _ = call("POST", "/api/gainer-analysis/scheduler/stop", outside, map[string]any{})
		Expect(status).To(Equal(http.StatusForbidden))
	})

	It("needs create, not only patch, to start a schedule that does not exist yet", func() {
		status, env, _ := call("POST", "/api/gainer-analysis/scheduler/start", patcher, start)
		Expect(status).To(Equal(http.StatusForbidden))
		Expect(env.Msg).To(ContainSubstring("may not create"))
	})

	It("creates the default schedule in the operator's namespace for an authorised caller", func() {
		status, env, data := call("POST", "/api/gainer-analysis/scheduler/start", editor, start)
		Expect(status).To(Equal(http.StatusOK), env.Msg)
		Expect(env.Code).To(Equal(1))
		var st scheduleStatus
		Expect(json.Unmarshal(data, &st)).To(Succeed())
		Expect(st.Name).To(Equal("default"))
		Expect(st.Namespace).To(Equal(ns))

		obj := schedule("default")
		Expect(obj.Spec.Symbols).To(Equal([]analysisv1alpha1.Symbol{"BTCUSDT", "ETHUSDT"}))
		Expect(obj.Spec.Interval.Minutes()).To(Equal(10.0))
		Expect(obj.Spec.Suspend).To(BeFalse())
		Expect(obj.Spec.Timeframes).To(Equal([]analysisv1alpha1.Timeframe{"15m"}), "CRD defaults apply")
	})

	It("suspends and resumes the schedule through stop and start", func() {
		status, env, _ := call("POST", "/api/gainer-analysis/scheduler/stop", editor, map[string]any{})
		Expect(status).To(Equal(http.StatusOK), env.Msg)
		Expect(schedule("default").Spec.Suspend).To(BeTrue())

		// A patch-only caller may resume an existing schedule.
		status, env, _ = call("POST", "/api/gainer-analysis/scheduler/start", patcher,
			map[string]any{"symbols": []string{"SOLUSDT"}})
		Expect(status).To(Equal(http.StatusOK), env.Msg)
		obj := schedule("default")
		Expect(obj.Spec.Suspend).To(BeFalse())
		Expect(obj.Spec.Symbols).To(Equal([]analysisv1alpha1.Symbol{"SOLUSDT"}))
		Expect(obj.Spec.Interval.Minutes()).To(Equal(10.0), "an absent interval_minutes keeps the interval")
	})

	It("reports the schedules' status from the CRs", func() {
		obj := schedule("default")
		now := metav1.Now()
		obj.Status.LastRunTime = &now
		obj.Status.Symbols = analysisv1alpha1.SymbolCounts{Total: 1, Succeeded: 0, Failed: 1}
		obj.Status.FailedSymbols = []analysisv1alpha1.SymbolFailure{{Symbol: "SOLUSDT", Reason: "RateLimited", Message: "429"}}
		meta.SetStatusCondition(&obj.Status.Conditions, metav1.Condition{Type: analysisv1alpha1.ConditionReady,
			Status: metav1.ConditionFalse, Reason: "PartialFailure", Message: "1 of 1 symbols failed"})
		Expect(k8sClient.Status().Update(ctx, obj)).To(Succeed())

		var got struct {
			Running         bool             `json:"running"`
			SymbolsCount    int              `json:"symbols_count"`
			IntervalMinutes float64          `json:"interval_minutes"`
			CacheStats      map[string]any   `json:"cache_stats"`
			Schedules       []scheduleStatus `json:"schedules"`
		}
		// The status comes from the informer cache, which sees the update a moment later.
		Eventually(func(g Gomega) {
			status, env, data := call("GET", "/api/gainer-analysis/scheduler/status?namespace="+ns, "", nil)
			g.Expect(status).To(Equal(http.StatusOK), env.Msg)
			g.Expect(json.Unmarshal(data, &got)).To(Succeed())
			g.Expect(got.Schedules).To(HaveLen(1))
			g.Expect(got.Schedules[0].LastRunTime).NotTo(BeNil())
		}).Should(Succeed())
		Expect(got.Running).To(BeTrue())
		Expect(got.SymbolsCount).To(Equal(1))
		Expect(got.IntervalMinutes).To(Equal(10.0))
		Expect(got.CacheStats).To(HaveKeyWithValue("cache_type", "memory"))
		Expect(got.Schedules).To(HaveLen(1))
		s := got.Schedules[0]
		Expect(s.Ready).To(BeFalse())
		Expect(s.Reason).To(Equal("PartialFailure"))
		Expect(s.Counts.Failed).To(Equal(int32(1)))
		Expect(s.FailedSymbols).To(ConsistOf(analysisv1alpha1.SymbolFailure{Symbol: "SOLUSDT", Reason: "RateLimited", Message: "429"}))
		Expect(s.LastRunTime).NotTo(BeNil())

		status, _, data := call("GET", "/api/v1/schedules?namespace="+ns, "", nil)
		Expect(status).To(Equal(http.StatusOK))
		Expect(string(data)).To(ContainSubstring(`"name":"default"`))
	})

	It("shows a topGainers schedule's resolved list, and turns it into a fixed list on start", func() {
		obj := &analysisv1alpha1.AnalysisSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gainers"},
			Spec: analysisv1alpha1.AnalysisScheduleSpec{Interval: metav1.Duration{Duration: 5 * time.Minute},
				TopGainers: &analysisv1alpha1.TopGainersSpec{Limit: 2}}}
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		obj.Status.ResolvedSymbols = []analysisv1alpha1.Symbol{"PEPEUSDT", "WIFUSDT"}
		Expect(k8sClient.Status().Update(ctx, obj)).To(Succeed())

		// Lists come from the informer cache, which sees the status update a moment later.
		Eventually(func(g Gomega) {
			status, _, data := call("GET", "/api/v1/schedules?namespace="+ns, "", nil)
			g.Expect(status).To(Equal(http.StatusOK))
			g.Expect(string(data)).To(ContainSubstring(`"name":"gainers"`))
			g.Expect(string(data)).To(ContainSubstring(`"symbols":["PEPEUSDT","WIFUSDT"]`))
		}).Should(Succeed())

		status, env, _ := call("POST", "/api/gainer-analysis/scheduler/start", editor,
			map[string]any{"symbols": []string{"BTCUSDT"}, "name": "gainers"})
		Expect(status).To(Equal(http.StatusOK), env.Msg)
		Expect(schedule("gainers").Spec.TopGainers).To(BeNil())
		Expect(schedule("gainers").Spec.Symbols).To(Equal([]analysisv1alpha1.Symbol{"BTCUSDT"}))
	})

	It("passes the CRD's validation message on as 422", func() {
		status, env, _ := call("POST", "/api/gainer-analysis/scheduler/start", editor,
			map[string]any{"symbols": []string{"BTCUSDT"}, "interval_minutes": 0.05, "name": "too-fast"})
		Expect(status).To(Equal(http.StatusUnprocessableEntity))
		Expect(env.Msg).To(ContainSubstring("interval must be at least 10s"))
	})

	It("answers 404 when stopping a schedule that does not exist", func() {
		status, env, _ := call("POST", "/api/gainer-analysis/scheduler/stop", editor, map[string]any{"name": "missing"})
		Expect(status).To(Equal(http.StatusNotFound))
		Expect(env.Msg).To(ContainSubstring(`"missing" not found`))
	})

	It("authorises in the namespace the request names", func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}})).To(Succeed())
		status, env, _ := call("POST", "/api/gainer-analysis/scheduler/start", editor,
			map[string]any{"symbols": []string{"BTCUSDT"}, "namespace": "elsewhere"})
		Expect(status).To(Equal(http.StatusForbidden))
		Expect(env.Msg).To(ContainSubstring(`in namespace "elsewhere"`))
		Expect(strings.Contains(env.Msg, "editor")).To(BeTrue())
	})
})

var _ = Describe("scheduler routes against a real API server", Ordered, func() {
	const ns = "api-scheduler"
	var (
		ctx   = context.Background()
		token string
	)
	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		token = serviceAccountToken(ctx, ns, "starter")
		grant(ctx, ns, "starter", "get", "list", "create", "patch")
	})
	stored := func(name string) *analysisv1alpha1.AnalysisSchedule {
		GinkgoHelper()
		obj := &analysisv1alpha1.AnalysisSchedule{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)).To(Succeed())
		return obj
	}
	type answer struct {
		Status       string              `json:"status"`
		SymbolsCount int                 `json:"symbols_count"`
		CacheStats   schedulerCacheStats `json:"cache_stats"`
		scheduleStatus
	}
	send := func(route string, body any) answer {
		GinkgoHelper()
		status, env, data := call("POST", "/api/gainer-analysis/scheduler/"+route, token, body)
		Expect(status).To(Equal(http.StatusOK), env.Msg)
		var a answer
		Expect(json.Unmarshal(data, &a)).To(Succeed())
		return a
	}

	It("starts a new schedule without interval_minutes at the original's 5 minutes", func() {
		a := send("start", map[string]any{"symbols": []string{"btcusdt", " ETHUSDT ", "eth/usdt"}, "name": "no-interval", "namespace": ns})
		Expect(a.Status).To(Equal("started"))
		Expect(a.SymbolsCount).To(Equal(2))
		Expect(a.IntervalMinutes).To(Equal(5.0))
		Expect(a.CacheStats.CacheTTLSeconds).To(BeNumerically(">", 0))
		obj := stored("no-interval")
		Expect(obj.Spec.Interval.Duration).To(Equal(5 * time.Minute))
		Expect(obj.Spec.Symbols).To(Equal([]analysisv1alpha1.Symbol{"BTCUSDT", "ETHUSDT"}), "normalised, duplicates dropped")
		Expect(obj.Spec.Source.Exchange).To(Equal(analysisv1alpha1.ExchangeSimulated), "the operator's default exchange")
	})

	It("restarts the last list on an empty body, and refuses it when there is no schedule yet", func() {
		send("stop", map[string]any{"name": "no-interval", "namespace": ns})
		a := send("start", map[string]any{"name": "no-interval", "namespace": ns, "interval_minutes": 7})
		Expect(a.Suspended).To(BeFalse())
		Expect(a.Symbols).To(Equal([]analysisv1alpha1.Symbol{"BTCUSDT", "ETHUSDT"}))
		obj := stored("no-interval")
		Expect(obj.Spec.Suspend).To(BeFalse())
		Expect(obj.Spec.Interval.Duration).To(Equal(7 * time.Minute))

		status, env, _ := call("POST", "/api/gainer-analysis/scheduler/start", token, map[string]any{"name": "never", "namespace": ns})
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(env.Msg).To(ContainSubstring("does not exist yet, so there is no last list to restart"))
	})

	It("answers every one of 100 back-to-back stop/start pairs with what it stored", func() {
		send("start", map[string]any{"symbols": []string{"BTCUSDT"}, "name": "flip", "namespace": ns})
		lists := [][]string{{"BTCUSDT"}, {"ETHUSDT", "SOLUSDT"}}
		for i := range 100 {
			stop := send("stop", map[string]any{"name": "flip", "namespace": ns})
			Expect(stop.Status).To(Equal("stopped"))
			Expect(stop.Suspended).To(BeTrue(), "pair %d: stop answered", i)
			Expect(stored("flip").Spec.Suspend).To(BeTrue(), "pair %d: stop answered 200 but did not suspend", i)

			want := lists[i%2]
			start := send("start", map[string]any{"symbols": want, "name": "flip", "namespace": ns})
			obj := stored("flip")
			Expect(obj.Spec.Suspend).To(BeFalse(), "pair %d: start answered 200 but did not resume", i)
			Expect(start.Suspended).To(Equal(obj.Spec.Suspend), "pair %d", i)
			Expect(start.Symbols).To(Equal(obj.Spec.Symbols), "pair %d", i)
			Expect(obj.Spec.Symbols).To(HaveLen(len(want)), "pair %d", i)
		}
	})
})
