package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/dispatch"
	"github.com/hama-operator/hama-operator/internal/signals"
)

// alertMetrics records which alerts have series.
type alertMetrics struct {
	mu      sync.Mutex
	tracked map[string]string
}

func (m *alertMetrics) TrackAlert(namespace, name, provider string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tracked == nil {
		m.tracked = map[string]string{}
	}
	m.tracked[namespace+"/"+name] = provider
}

func (m *alertMetrics) ForgetAlert(namespace, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.tracked, namespace+"/"+name)
}

// alertManifest is a SignalAlert as kubectl sends it.
func alertManifest(name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "analysis.hama-operator.io/v1alpha1",
		"kind":       "SignalAlert",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec":       spec,
	}}
}

func validAlertSpec(overrides map[string]any) map[string]any {
	return withOverrides(map[string]any{
		"schedules": []any{"majors"},
		"provider":  map[string]any{"type": "webhook", "secretRef": map[string]any{"name": "hook"}},
	}, overrides)
}

var _ = Describe("SignalAlert validation", func() {
	ctx := context.Background()

	DescribeTable("rejects a bad spec with a readable message",
		func(spec map[string]any, wantMessage string) {
			err := k8sClient.Create(ctx, alertManifest("bad-alert", spec))
			Expect(err).To(HaveOccurred(), "the API server accepted a bad spec")
			Expect(err.Error()).To(ContainSubstring(wantMessage))
			GinkgoWriter.Printf("REJECTED | %s\n", err.Error())
		},
		Entry("unknown event", validAlertSpec(map[string]any{"events": []any{"crossUp", "crossover"}}),
			`spec.events[1]: Unsupported value: "crossover": supported values: "crossUp", "crossDown", "colorFlip", "squeezeStart", "squeezeEnd"`),
		Entry("no events", validAlertSpec(map[string]any{"events": []any{}}),
			`spec.events in body should have at least 1 items`),
		Entry("bad provider type", validAlertSpec(map[string]any{"provider": map[string]any{"type": "telegram", "secretRef": map[string]any{"name": "hook"}}}),
			`spec.provider.type: Unsupported value: "telegram": supported values: "webhook", "slack", "discord", "email"`),
		Entry("missing secretRef", validAlertSpec(map[string]any{"provider": map[string]any{"type": "slack"}}),
			`provider.secretRef must name a Secret in the alert's namespace holding the provider's address`),
		Entry("missing provider", validAlertSpec(map[string]any{"provider": nil}),
			`spec.provider: Required value`),
		Entry("negative cooldown", validAlertSpec(map[string]any{"cooldown": "-5m"}),
			`cooldown must not be negative: use 0s for none, or a duration like 15m`),
		Entry("cooldown in words", validAlertSpec(map[string]any{"cooldown": "5 minutes"}),
			`cooldown must be a duration of at most 168h, like 0s, 30s, 15m or 4h`),
		Entry("cooldown over a week", validAlertSpec(map[string]any{"cooldown": "200h"}),
			`cooldown must be a duration of at most 168h`),
		Entry("names and a selector", validAlertSpec(map[string]any{"scheduleSelector": map[string]any{"matchLabels": map[string]any{"a": "b"}}}),
			`set at most one of schedules (names) and scheduleSelector (labels)`),
		Entry("a timeout of zero", validAlertSpec(map[string]any{"provider": map[string]any{"type": "webhook", "secretRef": map[string]any{"name": "h"}, "timeout": "0s"}}),
			`timeout must be a duration from 1s to 5m, like 10s`),
		Entry("lowercase symbol", validAlertSpec(map[string]any{"symbols": []any{"btcusdt"}}),
			`symbols must be 2 to 30 uppercase letters or digits, like BTCUSDT`),
		Entry("unknown timeframe", validAlertSpec(map[string]any{"timeframes": []any{"7m"}}),
			`spec.timeframes[0]: Unsupported value: "7m"`),
		Entry("an empty secret name", validAlertSpec(map[string]any{"provider": map[string]any{"type": "email", "secretRef": map[string]any{"name": ""}}}),
			`spec.provider.secretRef.name in body should be at least 1 chars long`),
	)

	It("accepts a minimal spec and fills the defaults", func() {
		u := alertManifest("defaults", validAlertSpec(map[string]any{"cooldown": "0"}))
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(context.Background(), u) })
		a := &analysisv1alpha1.SignalAlert{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(u), a)).To(Succeed())
		Expect(a.Spec.Events).To(Equal([]analysisv1alpha1.SignalEvent{"crossUp", "crossDown"}))
		Expect(a.Spec.Provider.Timeout.Duration).To(Equal(10 * time.Second))
		Expect(a.Spec.Cooldown.Duration).To(BeZero())
	})
})

func readyOf(ctx context.Context, name string) func(g Gomega) *metav1.Condition {
	return func(g Gomega) *metav1.Condition {
		a := &analysisv1alpha1.SignalAlert{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, a)).To(Succeed())
		c := meta.FindStatusCondition(a.Status.Conditions, analysisv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.ObservedGeneration).To(Equal(a.Generation))
		return c
	}
}

func haveReason(status metav1.ConditionStatus, reason string) OmegaMatcher {
	return And(HaveField("Status", status), HaveField("Reason", reason))
}

func createSecret(ctx context.Context, name string, data map[string]string) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, StringData: data}
	ExpectWithOffset(1, k8sClient.Create(ctx, s)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(context.Background(), s) })
}

func createAlert(ctx context.Context, name, secret string) *analysisv1alpha1.SignalAlert {
	a := &analysisv1alpha1.SignalAlert{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: analysisv1alpha1.SignalAlertSpec{Provider: analysisv1alpha1.NotificationProvider{
			Type: analysisv1alpha1.ProviderWebhook, SecretRef: &analysisv1alpha1.SecretReference{Name: secret}}}}
	ExpectWithOffset(1, k8sClient.Create(ctx, a)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(context.Background(), a) })
	return a
}

var _ = Describe("SignalAlert controller", func() {
	ctx := context.Background()

	It("says SecretNotFound until the Secret exists, with an Event, then Ready", func() {
		createAlert(ctx, "no-secret", "hook-later")
		Eventually(readyOf(ctx, "no-secret"), "30s").Should(haveReason(metav1.ConditionFalse, ReasonSecretNotFound))
		Expect(readyOf(ctx, "no-secret")(Default).Message).To(Equal("Secret default/hook-later (spec.provider.secretRef) not found"))
		Eventually(func() []string { return eventReasons(eventsFor(ctx, "no-secret")) }, "30s").Should(ContainElement(ReasonSecretNotFound))

		createSecret(ctx, "hook-later", map[string]string{"address": "https://example.com/hook"})
		Eventually(readyOf(ctx, "no-secret"), "30s").Should(haveReason(metav1.ConditionTrue, ReasonSucceeded))
	})

	It("stalls on a Secret that makes no receiver", func() {
		createSecret(ctx, "ftp-hook", map[string]string{"address": "ftp://example.com/hook"})
		createAlert(ctx, "bad-secret", "ftp-hook")
		Eventually(readyOf(ctx, "bad-secret"), "30s").Should(haveReason(metav1.ConditionFalse, ReasonInvalidSecret))
		a := &analysisv1alpha1.SignalAlert{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: "default", Name: "bad-secret"}, a)).To(Succeed())
		Expect(meta.IsStatusConditionTrue(a.Status.Conditions, analysisv1alpha1.ConditionStalled)).To(BeTrue())
		Expect(meta.FindStatusCondition(a.Status.Conditions, analysisv1alpha1.ConditionReady).Message).
			To(ContainSubstring(`must be an http or https URL`))
	})

	It("shows the delivery worker's counts, last delivery and failures", func() {
		createSecret(ctx, "counted-hook", map[string]string{"address": "https://example.com/hook"})
		createAlert(ctx, "counted", "counted-hook")
		Eventually(readyOf(ctx, "counted"), "30s").Should(haveReason(metav1.ConditionTrue, ReasonSucceeded))

		del := dispatch.Delivery{ID: "default/counted/e1", Namespace: "default", Alert: "counted", Provider: "webhook"}
		at := time.Now().Truncate(time.Second)
		Expect(deliveries.Sent(ctx, del, at)).To(Succeed())
		alertReconciler.Report(dispatch.Outcome{Namespace: "default", Alert: "counted", Result: dispatch.ResultSent})
		Eventually(func(g Gomega) {
			a := &analysisv1alpha1.SignalAlert{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: "default", Name: "counted"}, a)).To(Succeed())
			g.Expect(a.Status.Deliveries).To(Equal(analysisv1alpha1.DeliveryCounts{Sent: 1}))
			g.Expect(a.Status.LastDeliveryTime.Time.Equal(at)).To(BeTrue())
		}, "30s").Should(Succeed())

		del.ID = "default/counted/e2"
		refusal := errors.New("webhook receiver answered 403 Forbidden")
		Expect(deliveries.Failed(ctx, del, at, dispatch.ResultRejected, refusal.Error())).To(Succeed())
		alertReconciler.Report(dispatch.Outcome{Namespace: "default", Alert: "counted", Result: dispatch.ResultRejected, EventID: "e2", Err: refusal})
		Eventually(readyOf(ctx, "counted"), "30s").Should(haveReason(metav1.ConditionFalse, ReasonProviderRejected))
		Eventually(func() []string { return eventReasons(eventsFor(ctx, "counted")) }, "30s").Should(ContainElement(ReasonProviderRejected))

		del.ID = "default/counted/e3"
		Expect(deliveries.Retry(ctx, del, at.Add(time.Minute), at, true, "connection refused")).To(Succeed())
		alertReconciler.Report(dispatch.Outcome{Namespace: "default", Alert: "counted", Result: dispatch.ResultRetrying, EventID: "e3",
			Err: errors.New("connection refused"), Next: at.Add(time.Minute), Attempt: 1})
		Eventually(readyOf(ctx, "counted"), "30s").Should(haveReason(metav1.ConditionFalse, ReasonProviderUnreachable))
		a := &analysisv1alpha1.SignalAlert{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: "default", Name: "counted"}, a)).To(Succeed())
		Expect(a.Status.Deliveries).To(Equal(analysisv1alpha1.DeliveryCounts{Sent: 1, Failed: 1}))

		// kubectl get salert: why it is not Ready, the counts, and how long ago the last delivery was
		// (a date column, shown as an age like Age).
		cols := printedColumns(ctx, "signalalerts", a)
		Expect(cols).To(HaveKeyWithValue("Provider", "webhook"))
		Expect(cols).To(HaveKeyWithValue("Suspended", false))
		Expect(cols).To(HaveKeyWithValue("Ready", "False"))
		Expect(cols).To(HaveKeyWithValue("Reason", ReasonProviderUnreachable))
		Expect(cols).To(HaveKeyWithValue("Sent", BeNumerically("==", 1)))
		Expect(cols).To(HaveKeyWithValue("Failed", BeNumerically("==", 1)))
		Expect(cols).To(HaveKeyWithValue("Last Delivery", MatchRegexp(`^[0-9]+[smhdy]`)))
	})

	It("reports Suspended as Ready", func() {
		createSecret(ctx, "quiet-hook", map[string]string{"address": "https://example.com/hook"})
		a := createAlert(ctx, "quiet", "quiet-hook")
		patch := client.MergeFrom(a.DeepCopy())
		a.Spec.Suspend = true
		Expect(k8sClient.Patch(ctx, a, patch)).To(Succeed())
		Eventually(readyOf(ctx, "quiet"), "30s").Should(haveReason(metav1.ConditionTrue, ReasonSuspended))
		cols := printedColumns(ctx, "signalalerts", a)
		Expect(cols).To(HaveKeyWithValue("Suspended", true))
		Expect(cols).To(HaveKeyWithValue("Ready", "True"))
		Expect(cols).To(HaveKeyWithValue("Reason", ReasonSuspended))
	})
})

var _ = Describe("SignalAlert matching (the delivery worker's view)", func() {
	ctx := context.Background()

	It("selects schedules by name, by label or all, covers their symbols, and skips alerts that cannot deliver", func() {
		ns := "alert-matching"
		Expect(k8sClient.Create(ctx, namespace(ns))).To(Succeed())
		sched := func(name string, labels map[string]string, symbols ...analysisv1alpha1.Symbol) {
			s := &analysisv1alpha1.AnalysisSchedule{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
				Spec: analysisv1alpha1.AnalysisScheduleSpec{Symbols: symbols, Interval: metav1.Duration{Duration: time.Hour}, Suspend: true}}
			Expect(k8sClient.Create(ctx, s)).To(Succeed())
		}
		sched("majors", map[string]string{"tier": "major"}, "BTCUSDT", "ETHUSDT")
		sched("alts", map[string]string{"tier": "alt"}, "SOLUSDT")
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: ns},
			StringData: map[string]string{"address": "https://example.com/hook"}})).To(Succeed())
		alert := func(name string, mutate func(*analysisv1alpha1.SignalAlertSpec)) {
			a := &analysisv1alpha1.SignalAlert{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: analysisv1alpha1.SignalAlertSpec{Provider: analysisv1alpha1.NotificationProvider{
					Type: analysisv1alpha1.ProviderSlack, SecretRef: &analysisv1alpha1.SecretReference{Name: "hook"}}}}
			mutate(&a.Spec)
			Expect(k8sClient.Create(ctx, a)).To(Succeed())
		}
		alert("by-name", func(s *analysisv1alpha1.SignalAlertSpec) { s.Schedules = []string{"alts", "gone"} })
		alert("by-label", func(s *analysisv1alpha1.SignalAlertSpec) {
			s.ScheduleSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "major"}}
			s.Cooldown = &metav1.Duration{Duration: 15 * time.Minute}
			s.Timeframes = []analysisv1alpha1.Timeframe{"1h"}
		})
		alert("all", func(*analysisv1alpha1.SignalAlertSpec) {})
		alert("suspended", func(s *analysisv1alpha1.SignalAlertSpec) { s.Suspend = true })
		alert("no-secret", func(s *analysisv1alpha1.SignalAlertSpec) { s.Provider.SecretRef.Name = "missing" })

		active, err := (&AlertSource{Client: k8sClient}).Active(ctx)
		Expect(err).NotTo(HaveOccurred())
		byName := map[string]dispatch.Alert{}
		for _, a := range active {
			if a.Namespace == ns {
				byName[a.Name] = a
			}
		}
		Expect(byName).To(HaveLen(3), "suspended and Secret-less alerts take no events")
		Expect(byName["by-name"].Schedules).To(Equal([]string{"alts"}))
		Expect(byName["by-name"].Covered).To(Equal([]string{"SOLUSDT"}))
		Expect(byName["by-label"].Schedules).To(Equal([]string{"majors"}))
		Expect(byName["by-label"].Covered).To(ConsistOf("BTCUSDT", "ETHUSDT"))
		Expect(byName["by-label"].Cooldown).To(Equal(15 * time.Minute))
		Expect(byName["by-label"].Timeframes).To(Equal([]string{"1h"}))
		Expect(byName["all"].Schedules).To(ConsistOf("majors", "alts"))
		Expect(byName["all"].Events).To(Equal([]string{"crossUp", "crossDown"}), "the CRD's default")
		Expect(byName["all"].Provider).To(Equal("slack"))

		// An event of another namespace's schedule matches through a covered symbol only.
		ev := signals.Event{Symbol: "SOLUSDT", Timeframe: "15m", Kind: signals.CrossUp, Namespace: "elsewhere", Schedule: "alts"}
		Expect(byName["by-name"].Matches(ev)).To(BeTrue())
		ev.Symbol = "DOGEUSDT"
		Expect(byName["by-name"].Matches(ev)).To(BeFalse())
		ev.Namespace = ns
		Expect(byName["by-name"].Matches(ev)).To(BeTrue(), "found by the selected schedule itself")
		Expect(byName["by-label"].Matches(signals.Event{Symbol: "BTCUSDT", Timeframe: "15m", Kind: signals.CrossUp})).To(BeFalse(), "timeframe filter")

		_, err = (&AlertSource{Client: k8sClient}).Receiver(ctx, ns, "suspended")
		Expect(errors.Is(err, dispatch.ErrNoAlert)).To(BeTrue())
		_, err = (&AlertSource{Client: k8sClient}).Receiver(ctx, ns, "deleted-long-ago")
		Expect(errors.Is(err, dispatch.ErrNoAlert)).To(BeTrue())
		recv, err := (&AlertSource{Client: k8sClient}).Receiver(ctx, ns, "all")
		Expect(err).NotTo(HaveOccurred())
		Expect(recv.Target.Address).To(Equal("https://example.com/hook"))
		Expect(recv.Timeout).To(Equal(10 * time.Second))
	})
})
