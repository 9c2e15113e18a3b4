package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/gainers"
)

func newSchedule(name string, interval time.Duration, symbols ...string) *analysisv1alpha1.AnalysisSchedule {
	s := &analysisv1alpha1.AnalysisSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: analysisv1alpha1.AnalysisScheduleSpec{
			Interval: metav1.Duration{Duration: interval},
			Source:   analysisv1alpha1.SourceSpec{Exchange: analysisv1alpha1.ExchangeSimulated},
		},
	}
	for _, sym := range symbols {
		s.Spec.Symbols = append(s.Spec.Symbols, analysisv1alpha1.Symbol(sym))
	}
	return s
}

func fetch(ctx context.Context, s *analysisv1alpha1.AnalysisSchedule) *analysisv1alpha1.AnalysisSchedule {
	out := &analysisv1alpha1.AnalysisSchedule{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(s), out)).To(Succeed())
	return out
}

// eventuallyCondition waits until the schedule's condition of type has status and reason, and a
// message containing message.
func eventuallyCondition(ctx context.Context, s *analysisv1alpha1.AnalysisSchedule, condType string,
	status metav1.ConditionStatus, reason, message string) {
	EventuallyWithOffset(1, func(g Gomega) {
		c := meta.FindStatusCondition(fetch(ctx, s).Status.Conditions, condType)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(status))
		g.Expect(c.Reason).To(Equal(reason))
		g.Expect(c.Message).To(ContainSubstring(message))
	}, "10s", "100ms").Should(Succeed())
}

// update retries a change on conflicts, as kubectl edit would.
func update(ctx context.Context, s *analysisv1alpha1.AnalysisSchedule, change func(*analysisv1alpha1.AnalysisSchedule)) {
	EventuallyWithOffset(1, func() error {
		cur := &analysisv1alpha1.AnalysisSchedule{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(s), cur); err != nil {
			return err
		}
		change(cur)
		return k8sClient.Update(ctx, cur)
	}, "10s", "100ms").Should(Succeed())
}

func create(ctx context.Context, s *analysisv1alpha1.AnalysisSchedule) {
	ExpectWithOffset(1, k8sClient.Create(ctx, s)).To(Succeed())
	DeferCleanup(func() {
		_ = k8sClient.Delete(context.Background(), s)
	})
}

func eventsFor(ctx context.Context, name string) []eventsv1.Event {
	var list eventsv1.EventList
	ExpectWithOffset(1, k8sClient.List(ctx, &list, client.InNamespace("default"))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func eventReasons(events []eventsv1.Event) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		out = append(out, e.Reason)
	}
	return out
}

var _ = Describe("AnalysisSchedule controller", func() {
	ctx := context.Background()

	It("warms the cache at once and reports the run in status", func() {
		s := newSchedule("warm-up", 10*time.Minute, "BTCUSDT", "ETHUSDT", "SOLUSDT")
		create(ctx, s)
		key := scheduleKey(s)

		Eventually(func() int { return refresher.runCount(key) }, "10s", "50ms").Should(Equal(1))
		Eventually(func(g Gomega) {
			got := fetch(ctx, s)
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(got.Status.LastRunTime).NotTo(BeNil())
			g.Expect(got.Status.LastSuccessfulRunTime).NotTo(BeNil())
			g.Expect(got.Status.NextRunTime).NotTo(BeNil())
			g.Expect(got.Status.NextRunTime.Sub(got.Status.LastRunTime.Time)).To(BeNumerically("~", 10*time.Minute, time.Second))
			g.Expect(got.Status.LastRunDuration).NotTo(BeNil())
			g.Expect(got.Status.Symbols).To(Equal(analysisv1alpha1.SymbolCounts{Total: 3, Succeeded: 3}))
			g.Expect(got.Status.CacheBackend).To(Equal("memory"))
			ready := meta.FindStatusCondition(got.Status.Conditions, analysisv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(ready.Reason).To(Equal(ReasonSucceeded))
			g.Expect(ready.ObservedGeneration).To(Equal(got.Generation))
			reconciling := meta.FindStatusCondition(got.Status.Conditions, analysisv1alpha1.ConditionReconciling)
			g.Expect(reconciling).NotTo(BeNil())
			g.Expect(reconciling.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(meta.FindStatusCondition(got.Status.Conditions, analysisv1alpha1.ConditionStalled)).To(BeNil())
			g.Expect(controllerutil.ContainsFinalizer(got, Finalizer)).To(BeTrue())
		}, "10s", "100ms").Should(Succeed())

		job := refresher.lastJob(key)
		Expect(job.Symbols).To(Equal([]string{"BTCUSDT", "ETHUSDT", "SOLUSDT"}))
		Expect(job.Timeframes).To(Equal([]string{"15m"}))
		Expect(job.Candles).To(Equal(500))
		Expect(job.Concurrency).To(Equal(8))
		Expect(job.TTL).To(Equal(30*time.Minute), "ttl defaults to three intervals")
		Expect(job.Exchange).To(Equal("simulated"))
		Expect(job.Params.MALength).To(Equal(100))
		Expect(job.Params.BollingerMultiplier).To(Equal(2.0))
		Expect(metrics.resultCount(key, resultSuccess)).To(Equal(1))
		// A routine success is not worth an event.
		Consistently(func() []string { return eventReasons(eventsFor(ctx, s.Name)) }, "1s", "200ms").Should(BeEmpty())
		// Nothing runs again before the interval has passed, and then the next run comes.
		fakeClock.Step(10*time.Minute - time.Second)
		Consistently(func() int { return refresher.runCount(key) }, "1s", "100ms").Should(Equal(1))
		advanceUntil(2*time.Second, func() bool { return refresher.runCount(key) == 2 })
	})

	It("runs again every interval, on time and never twice at once", func() {
		refresher.mu.Lock()
		refresher.delay = 300 * time.Millisecond
		refresher.mu.Unlock()
		DeferCleanup(func() {
			refresher.mu.Lock()
			refresher.delay = 0
			refresher.mu.Unlock()
		})
		s := newSchedule("on-time", 10*time.Second, "BTCUSDT")
		create(ctx, s)
		key := scheduleKey(s)

		Eventually(func() int { return refresher.runCount(key) }, "10s", "50ms").Should(Equal(1))
		advanceUntil(30*time.Second, func() bool { return refresher.runCount(key) >= 3 })
		runs := refresher.runTimes(key)
		for i := 1; i < len(runs); i++ {
			// Never early; a second late when the clock moved while the run was being requeued.
			Expect(runs[i].Sub(runs[i-1])).To(And(BeNumerically(">=", 10*time.Second), BeNumerically("<=", 12*time.Second)),
				"gap between run %d and %d", i-1, i)
		}
		Expect(refresher.everOverlapped(key)).To(BeFalse())
	})

	It("stops running while suspended and resumes when un-suspended", func() {
		s := newSchedule("suspend", 10*time.Second, "BTCUSDT")
		create(ctx, s)
		key := scheduleKey(s)
		Eventually(func() int { return refresher.runCount(key) }, "10s", "50ms").Should(Equal(1))

		update(ctx, s, func(s *analysisv1alpha1.AnalysisSchedule) { s.Spec.Suspend = true })
		Eventually(func(g Gomega) {
			got := fetch(ctx, s)
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(got.Status.NextRunTime).To(BeNil())
			reconciling := meta.FindStatusCondition(got.Status.Conditions, analysisv1alpha1.ConditionReconciling)
			g.Expect(reconciling.Reason).To(Equal(ReasonSuspended))
			ready := meta.FindStatusCondition(got.Status.Conditions, analysisv1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(ready.Reason).To(Equal(ReasonSuspended))
			g.Expect(ready.Message).To(ContainSubstring("last run: Succeeded: refreshed 1 symbols"))
		}, "10s", "100ms").Should(Succeed())
		Expect(metrics.isTracked(key)).To(BeFalse(), "a suspended schedule must not feed the not-refreshed alert")
		suspendedAt := refresher.runCount(key)
		// The run planned before the suspension comes due and must not happen.
		fakeClock.Step(15 * time.Second)
		Consistently(func() int { return refresher.runCount(key) }, "1s", "100ms").Should(Equal(suspendedAt))

		update(ctx, s, func(s *analysisv1alpha1.AnalysisSchedule) { s.Spec.Suspend = false })
		Eventually(func() int { return refresher.runCount(key) }, "5s", "50ms").Should(Equal(suspendedAt + 1))
		Eventually(func() *metav1.Time { return fetch(ctx, s).Status.NextRunTime }, "5s", "100ms").ShouldNot(BeNil())
		Expect(metrics.isTracked(key)).To(BeTrue())
	})

	It("shows a schedule created suspended as Ready with reason Suspended in kubectl's columns", func() {
		s := newSchedule("born-suspended", time.Minute, "BTCUSDT", "ETHUSDT")
		s.Spec.Suspend = true
		create(ctx, s)
		eventuallyCondition(ctx, s, analysisv1alpha1.ConditionReady, metav1.ConditionTrue, ReasonSuspended, "")
		Expect(refresher.runCount(scheduleKey(s))).To(Equal(0))

		cols := printedColumns(ctx, "analysisschedules", s)
		Expect(cols).To(HaveKeyWithValue("Suspended", true))
		Expect(cols).To(HaveKeyWithValue("Ready", "True"))
		Expect(cols).To(HaveKeyWithValue("Reason", ReasonSuspended))
		Expect(cols).To(HaveKeyWithValue("Next Run", BeNil()))

		update(ctx, s, func(s *analysisv1alpha1.AnalysisSchedule) { s.Spec.Suspend = false })
		Eventually(func(g Gomega) {
			cols := printedColumns(ctx, "analysisschedules", s)
			g.Expect(cols).To(HaveKeyWithValue("Suspended", false))
			g.Expect(cols).To(HaveKeyWithValue("Reason", ReasonSucceeded))
			g.Expect(cols).To(HaveKeyWithValue("Symbols", BeNumerically("==", 2)))
			// Both run columns are timestamps, never "<invalid>" for the future next run.
			for _, name := range []string{"Last Run", "Next Run"} {
				_, err := time.Parse(time.RFC3339, fmt.Sprint(cols[name]))
				g.Expect(err).NotTo(HaveOccurred(), "%s = %v", name, cols[name])
			}
		}, "10s", "100ms").Should(Succeed())
	})

	It("runs exactly once per new refresh-requested-at value", func() {
		s := newSchedule("manual", 10*time.Minute, "BTCUSDT")
		create(ctx, s)
		key := scheduleKey(s)
		Eventually(func() int { return refresher.runCount(key) }, "10s", "50ms").Should(Equal(1))

		request := func(value string) {
			update(ctx, s, func(s *analysisv1alpha1.AnalysisSchedule) {
				if s.Annotations == nil {
					s.Annotations = map[string]string{}
				}
				s.Annotations[analysisv1alpha1.RefreshRequestedAtAnnotation] = value
			})
		}
		request("2026-11-22T10:00:00Z")
		Eventually(func() int { return refresher.runCount(key) }, "5s", "50ms").Should(Equal(2))
		Eventually(func() string { return fetch(ctx, s).Status.LastHandledRefreshAt }, "5s", "50ms").
			Should(Equal("2026-11-22T10:00:00Z"))
		Consistently(func() int { return refresher.runCount(key) }, "2s", "100ms").Should(Equal(2))

		// Another annotation changing does not repeat a handled request.
		update(ctx, s, func(s *analysisv1alpha1.AnalysisSchedule) { s.Annotations["team"] = "quant" })
		Consistently(func() int { return refresher.runCount(key) }, "2s", "100ms").Should(Equal(2))

		request("second")
		Eventually(func() int { return refresher.runCount(key) }, "5s", "50ms").Should(Equal(3))
		Consistently(func() int { return refresher.runCount(key) }, "2s", "100ms").Should(Equal(3))
		Expect(fetch(ctx, s).Status.LastHandledRefreshAt).To(Equal("second"))
	})

	It("re-plans on a spec change and keeps observedGeneration in step", func() {
		s := newSchedule("respec", 10*time.Minute, "BTCUSDT")
		create(ctx, s)
		key := scheduleKey(s)
		Eventually(func() int { return refresher.runCount(key) }, "10s", "50ms").Should(Equal(1))
		firstGen := fetch(ctx, s).Generation

		update(ctx, s, func(s *analysisv1alpha1.AnalysisSchedule) {
			s.Spec.Symbols = append(s.Spec.Symbols, "ETHUSDT")
			s.Spec.Timeframes = []analysisv1alpha1.Timeframe{"1h", "4h"}
			s.Spec.Interval = metav1.Duration{Duration: 20 * time.Minute}
		})
		Eventually(func() int { return refresher.runCount(key) }, "5s", "50ms").Should(Equal(2))
		Eventually(func(g Gomega) {
			got := fetch(ctx, s)
			g.Expect(got.Generation).To(BeNumerically(">", firstGen))
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			for _, c := range got.Status.Conditions {
				g.Expect(c.ObservedGeneration).To(Equal(got.Generation), "condition %s", c.Type)
			}
			g.Expect(got.Status.NextRunTime.Sub(got.Status.LastRunTime.Time)).To(BeNumerically("~", 20*time.Minute, time.Second))
		}, "5s", "100ms").Should(Succeed())
		job := refresher.lastJob(key)
		Expect(job.Symbols).To(Equal([]string{"BTCUSDT", "ETHUSDT"}))
		Expect(job.Timeframes).To(Equal([]string{"1h", "4h"}))
	})

	It("reports failing symbols, warns once, and announces the recovery", func() {
		refresher.failSymbol("BADUSDT", "InvalidSymbol", "Invalid symbol.")
		DeferCleanup(func() { refresher.healSymbol("BADUSDT") })
		s := newSchedule("partial", 10*time.Minute, "BTCUSDT", "BADUSDT", "ETHUSDT")
		create(ctx, s)
		key := scheduleKey(s)

		Eventually(func(g Gomega) {
			got := fetch(ctx, s)
			g.Expect(got.Status.Symbols).To(Equal(analysisv1alpha1.SymbolCounts{Total: 3, Succeeded: 2, Failed: 1}))
			g.Expect(got.Status.FailedSymbols).To(Equal([]analysisv1alpha1.SymbolFailure{
				{Symbol: "BADUSDT", Reason: "InvalidSymbol", Message: "Invalid symbol."}}))
			ready := meta.FindStatusCondition(got.Status.Conditions, analysisv1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(ReasonSymbolsFailed))
			g.Expect(ready.Message).To(ContainSubstring("1 of 3 symbols failed (InvalidSymbol: 1)"))
			g.Expect(got.Status.LastSuccessfulRunTime).To(BeNil())
		}, "10s", "100ms").Should(Succeed())
		Eventually(func() []string { return eventReasons(eventsFor(ctx, s.Name)) }, "10s", "100ms").
			Should(ConsistOf(ReasonSymbolsFailed))
		Expect(metrics.resultCount(key, resultPartial)).To(Equal(1))

		refresher.healSymbol("BADUSDT")
		update(ctx, s, func(s *analysisv1alpha1.AnalysisSchedule) {
			s.Annotations = map[string]string{analysisv1alpha1.RefreshRequestedAtAnnotation: "retry"}
		})
		Eventually(func(g Gomega) {
			got := fetch(ctx, s)
			g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, analysisv1alpha1.ConditionReady)).To(BeTrue())
			g.Expect(got.Status.FailedSymbols).To(BeEmpty())
			g.Expect(got.Status.LastSuccessfulRunTime).NotTo(BeNil())
		}, "10s", "100ms").Should(Succeed())
		Eventually(func() []string { return eventReasons(eventsFor(ctx, s.Name)) }, "10s", "100ms").
			Should(ConsistOf(ReasonSymbolsFailed, "Recovered"))
	})

	It("marks Ready=False with the reason when the whole run fails", func() {
		s := newSchedule("run-error", 10*time.Minute, "BTCUSDT")
		refresher.mu.Lock()
		refresher.runErr[scheduleKey(s)] = fmt.Errorf("no source for exchange %q", "simulated")
		refresher.mu.Unlock()
		create(ctx, s)
		eventuallyCondition(ctx, s, analysisv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonRefreshFailed, "no source for exchange")
		Expect(metrics.resultCount(scheduleKey(s), resultFailure)).To(Equal(1))
	})

	It("announces new HAMA crosses in one event", func() {
		s := newSchedule("signals", 10*time.Minute, "BTCUSDT", "ETHUSDT")
		refresher.reportSignals(scheduleKey(s),
			analysis.SignalChange{Symbol: "BTCUSDT", Timeframe: "15m", Direction: "up", Time: time.Now()},
			analysis.SignalChange{Symbol: "ETHUSDT", Timeframe: "15m", Direction: "down", Time: time.Now()})
		create(ctx, s)
		Eventually(func(g Gomega) {
			evs := eventsFor(ctx, s.Name)
			g.Expect(evs).To(HaveLen(1))
			g.Expect(evs[0].Reason).To(Equal("SignalChanged"))
			g.Expect(evs[0].Note).To(Equal("BTCUSDT 15m crossed up; ETHUSDT 15m crossed down"))
		}, "10s", "100ms").Should(Succeed())
	})

	It("on deletion evicts only the symbols no other schedule covers and forgets its metrics", func() {
		keep := newSchedule("keeper", 10*time.Minute, "BTCUSDT", "SHAREDUSDT")
		gone := newSchedule("leaver", 10*time.Minute, "SHAREDUSDT", "ONLYMINEUSDT")
		create(ctx, keep)
		create(ctx, gone)
		Eventually(func() int { return refresher.runCount(scheduleKey(gone)) }, "10s", "50ms").Should(Equal(1))
		Eventually(func() bool {
			return controllerutil.ContainsFinalizer(fetch(ctx, keep), Finalizer)
		}, "10s", "50ms").Should(BeTrue())

		Expect(k8sClient.Delete(ctx, gone)).To(Succeed())
		Eventually(func() bool {
			err := k8sClient.Get(ctx, types.NamespacedName{Namespace: "default", Name: gone.Name}, &analysisv1alpha1.AnalysisSchedule{})
			return client.IgnoreNotFound(err) == nil && err != nil
		}, "10s", "100ms").Should(BeTrue(), "the finalizer was not removed")
		Expect(refresher.evictedSymbols()).To(ContainElement("ONLYMINEUSDT"))
		Expect(refresher.evictedSymbols()).NotTo(ContainElement("SHAREDUSDT"))
		Expect(metrics.wasForgotten(scheduleKey(gone))).To(BeTrue())
		Expect(metrics.wasForgotten(scheduleKey(keep))).To(BeFalse())
	})
})

var _ = Describe("AnalysisSchedule cache degradation", func() {
	ctx := context.Background()

	It("says so in a CacheDegraded condition while Redis is down, and clears it within seconds of its return", func() {
		refresher.mu.Lock()
		refresher.degraded = true
		refresher.mu.Unlock()
		DeferCleanup(func() {
			refresher.mu.Lock()
			refresher.degraded = false
			refresher.mu.Unlock()
		})
		s := newSchedule("degraded", 10*time.Minute, "BTCUSDT")
		create(ctx, s)
		eventuallyCondition(ctx, s, analysisv1alpha1.ConditionCacheDegraded, metav1.ConditionTrue, ReasonRedisDown, "copied to Redis when it recovers")

		runs := refresher.runCount(scheduleKey(s))
		refresher.mu.Lock()
		refresher.degraded = false
		refresher.mu.Unlock()
		// Redis is back: the condition goes within cacheRecheck, without waiting for the next run.
		advanceUntil(cacheRecheck, func() bool {
			return meta.FindStatusCondition(fetch(ctx, s).Status.Conditions, analysisv1alpha1.ConditionCacheDegraded) == nil
		})
		Expect(refresher.runCount(scheduleKey(s))).To(Equal(runs), "clearing the condition ran a refresh")
	})
})

// printedColumns asks the API server for the table kubectl get prints and returns the object's row
// by column name; resource is the object's plural.
func printedColumns(ctx context.Context, resource string, obj client.Object) map[string]any {
	GinkgoHelper()
	rc, err := rest.RESTClientFor(tableClientConfig())
	Expect(err).NotTo(HaveOccurred())
	table := &metav1.Table{}
	raw, err := rc.Get().AbsPath("/apis", analysisv1alpha1.GroupVersion.Group, analysisv1alpha1.GroupVersion.Version,
		"namespaces", obj.GetNamespace(), resource, obj.GetName()).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(json.Unmarshal(raw, table)).To(Succeed())
	Expect(table.Rows).To(HaveLen(1))
	out := map[string]any{}
	for i, c := range table.ColumnDefinitions {
		out[c.Name] = table.Rows[0].Cells[i]
	}
	return out
}

func tableClientConfig() *rest.Config {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &analysisv1alpha1.GroupVersion
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	return c
}

var _ = Describe("AnalysisSchedule following the top gainers", func() {
	ctx := context.Background()

	It("resolves the list at every run, shows it in status, and evicts only its uncovered gainers on deletion", func() {
		s := newSchedule("gainers", 10*time.Minute)
		s.Spec.TopGainers = &analysisv1alpha1.TopGainersSpec{Limit: 3, QuoteAsset: "USDT", MinQuoteVolume: 1000000}
		other := newSchedule("fixed", 10*time.Minute, "AAAUSDT")
		key := scheduleKey(s)
		refresher.setGainers(key, "AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")
		create(ctx, other)
		create(ctx, s)

		Eventually(func() []analysisv1alpha1.Symbol { return fetch(ctx, s).Status.ResolvedSymbols }, "10s", "50ms").
			Should(Equal([]analysisv1alpha1.Symbol{"AAAUSDT", "BBBUSDT", "CCCUSDT"}))
		job := refresher.lastJob(key)
		Expect(job.Symbols).To(BeEmpty())
		Expect(*job.TopGainers).To(Equal(gainers.Query{Limit: 3, QuoteAsset: "USDT", MinQuoteVolume: 1e6}))
		got := fetch(ctx, s)
		Expect(got.Status.Symbols).To(Equal(analysisv1alpha1.SymbolCounts{Total: 3, Succeeded: 3}))
		Expect(readyCondition(got).Message).To(HavePrefix("refreshed 3 symbols"))

		// CCC leaves the list, DDD enters: the next run follows, and nothing is evicted for CCC.
		refresher.setGainers(key, "DDDUSDT", "AAAUSDT", "BBBUSDT", "CCCUSDT")
		update(ctx, s, func(o *analysisv1alpha1.AnalysisSchedule) {
			metav1.SetMetaDataAnnotation(&o.ObjectMeta, analysisv1alpha1.RefreshRequestedAtAnnotation, "follow-1")
		})
		Eventually(func() []analysisv1alpha1.Symbol { return fetch(ctx, s).Status.ResolvedSymbols }, "10s", "50ms").
			Should(Equal([]analysisv1alpha1.Symbol{"DDDUSDT", "AAAUSDT", "BBBUSDT"}))
		Expect(refresher.runCount(key)).To(Equal(2))
		Expect(refresher.evictedSymbols()).NotTo(ContainElement("CCCUSDT"))

		// On deletion: BBB and DDD go; AAA stays (the fixed schedule lists it); CCC left earlier and
		// expires after its ttl.
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(s), &analysisv1alpha1.AnalysisSchedule{})
			return client.IgnoreNotFound(err) == nil && err != nil
		}, "10s", "100ms").Should(BeTrue(), "the finalizer was not removed")
		Expect(refresher.evictedSymbols()).To(ContainElements("BBBUSDT", "DDDUSDT"))
		Expect(refresher.evictedSymbols()).NotTo(ContainElement("AAAUSDT"))
		Expect(refresher.evictedSymbols()).NotTo(ContainElement("CCCUSDT"))
	})

	It("turns from a fixed list to the gainers and back", func() {
		s := newSchedule("switcher", 10*time.Minute, "XXXUSDT")
		key := scheduleKey(s)
		refresher.setGainers(key, "GGGUSDT")
		create(ctx, s)
		Eventually(func() int32 { return fetch(ctx, s).Status.Symbols.Total }, "10s", "50ms").Should(Equal(int32(1)))
		update(ctx, s, func(o *analysisv1alpha1.AnalysisSchedule) {
			o.Spec.Symbols = nil
			o.Spec.TopGainers = &analysisv1alpha1.TopGainersSpec{Limit: 5, QuoteAsset: "USDT"}
		})
		Eventually(func() []analysisv1alpha1.Symbol { return fetch(ctx, s).Status.ResolvedSymbols }, "10s", "50ms").
			Should(Equal([]analysisv1alpha1.Symbol{"GGGUSDT"}))
		update(ctx, s, func(o *analysisv1alpha1.AnalysisSchedule) {
			o.Spec.Symbols = []analysisv1alpha1.Symbol{"XXXUSDT", "YYYUSDT"}
			o.Spec.TopGainers = nil
		})
		Eventually(func() []analysisv1alpha1.Symbol { return fetch(ctx, s).Status.ResolvedSymbols }, "10s", "50ms").Should(BeEmpty())
		Expect(fetch(ctx, s).Status.Symbols.Total).To(Equal(int32(2)))
	})
})
