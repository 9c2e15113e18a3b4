package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/analysis"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// Run results, as counted by the refresh metrics.
const (
	resultSuccess = "success"
	resultPartial = "partial"
	resultFailure = "failure"
)

// maxSignalsInEvent bounds the crosses listed in one event; the rest are counted.
const maxSignalsInEvent = 10

// run performs one refresh and records its outcome in the status, events and metrics.
func (r *AnalysisScheduleReconciler) run(ctx context.Context, obj *analysisv1alpha1.AnalysisSchedule,
	job refresh.Job, reason runReason, st *statusPatcher) error {
	log := logf.FromContext(ctx).WithValues("reason", reason, "symbols", len(job.Symbols))
	start := r.now()
	obj.Status.LastRunTime = metaTime(start)
	markReconciling(obj, reason)
	// Show the run while it lasts: a large schedule can take minutes.
	if err := st.patch(ctx, obj); err != nil {
		return err
	}

	runCtx, cancel := context.WithTimeout(ctx, runTimeout(obj.Spec.Interval.Duration))
	refresher := r.Refresher.Refresh
	if job.Stream {
		refresher = r.Streams.Sync // a resync: the stream itself writes every candle close
	}
	report, err := refresher(runCtx, job)
	cancel()
	end := r.now()

	var wasReady *metav1.Condition
	if c := readyCondition(obj); c != nil {
		copied := *c // setCondition below updates the slice element in place
		wasReady = &copied
	}
	obj.Status.ObservedGeneration = obj.Generation
	obj.Status.LastRunDuration = &metav1.Duration{Duration: end.Sub(start).Round(time.Millisecond)}
	// Rounded up: status keeps whole seconds, and a run must never come early.
	next := r.scheduler.nextAfter(start, end, obj.Spec.Interval.Duration)
	obj.Status.NextRunTime = metaTime(next.Add(time.Second - time.Nanosecond))
	if v := obj.Annotations[analysisv1alpha1.RefreshRequestedAtAnnotation]; v != "" {
		obj.Status.LastHandledRefreshAt = v
	}

	result := resultFailure
	if err != nil {
		log.Error(err, "refresh failed")
		obj.Status.Symbols = analysisv1alpha1.SymbolCounts{Total: int32(len(job.Symbols)), Failed: int32(len(job.Symbols))}
		obj.Status.FailedSymbols = nil
		setCondition(obj, analysisv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonRefreshFailed, err.Error())
	} else {
		obj.Status.ResolvedSymbols = nil
		if job.TopGainers != nil {
			obj.Status.ResolvedSymbols = toSymbols(report.Symbols)
		}
		result = applyReport(obj, job, report, end.Sub(start))
		if result == resultSuccess {
			obj.Status.LastSuccessfulRunTime = metaTime(end)
			r.Metrics.SetLastSuccess(obj.Namespace, obj.Name, end)
		}
		r.announceSignals(obj, report.Signals)
		log.V(1).Info("refresh finished", "succeeded", report.Succeeded, "failed", len(report.Failures),
			"duration", end.Sub(start))
	}
	markIdle(obj, ReasonIdle, "next run at "+obj.Status.NextRunTime.UTC().Format(time.RFC3339))
	r.announceReadiness(obj, wasReady)
	r.Metrics.ObserveRun(obj.Namespace, obj.Name, result, end.Sub(start))
	return nil
}

// applyReport writes a run's report into the status and returns the run's result.
func applyReport(obj *analysisv1alpha1.AnalysisSchedule, job refresh.Job, report refresh.Report, took time.Duration) string {
	total := len(report.Symbols)
	failed := len(report.Failures)
	obj.Status.Symbols = analysisv1alpha1.SymbolCounts{
		Total: int32(total), Succeeded: int32(report.Succeeded), Failed: int32(failed),
	}
	obj.Status.CacheBackend = report.CacheBackend
	if report.CacheDegraded {
		setCondition(obj, analysisv1alpha1.ConditionCacheDegraded, metav1.ConditionTrue, ReasonRedisDown,
			"Redis is unavailable: results are held in the operator's memory and copied to Redis when it recovers; "+
				"other replicas compute on a miss until then")
	} else {
		meta.RemoveStatusCondition(&obj.Status.Conditions, analysisv1alpha1.ConditionCacheDegraded)
	}
	obj.Status.FailedSymbols = nil
	for _, f := range report.Failures[:min(failed, analysisv1alpha1.MaxFailedSymbols)] {
		obj.Status.FailedSymbols = append(obj.Status.FailedSymbols, analysisv1alpha1.SymbolFailure{
			Symbol: f.Symbol, Reason: f.Reason, Message: truncate(f.Message, 256),
		})
	}

	switch {
	case failed == 0:
		setCondition(obj, analysisv1alpha1.ConditionReady, metav1.ConditionTrue, ReasonSucceeded, fmt.Sprintf(
			"refreshed %d symbols x %d timeframes in %s", total, len(job.Timeframes), took.Round(time.Millisecond)))
		return resultSuccess
	case report.Succeeded == 0:
		setCondition(obj, analysisv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonRefreshFailed, fmt.Sprintf(
			"all %d symbols failed (%s); cached results are kept", total, reasonSummary(report.Failures)))
		return resultFailure
	default:
		setCondition(obj, analysisv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonSymbolsFailed, fmt.Sprintf(
			"%d of %d symbols failed (%s); see status.failedSymbols, their last good results are kept",
			failed, total, reasonSummary(report.Failures)))
		return resultPartial
	}
}

// reasonSummary counts failures per reason: "RateLimited: 2, InvalidSymbol: 1".
func reasonSummary(failures []refresh.SymbolFailure) string {
	counts := map[string]int{}
	for _, f := range failures {
		counts[f.Reason]++
	}
	parts := make([]string, 0, len(counts))
	for _, reason := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s: %d", reason, counts[reason]))
	}
	return strings.Join(parts, ", ")
}

// announceReadiness emits an event when readiness changes: a warning when the schedule starts
// failing or fails differently, a normal event when it recovers. Routine successes stay quiet.
func (r *AnalysisScheduleReconciler) announceReadiness(obj *analysisv1alpha1.AnalysisSchedule, before *metav1.Condition) {
	now := readyCondition(obj)
	if now == nil {
		return
	}
	switch {
	case now.Status == metav1.ConditionTrue && before != nil && before.Status != metav1.ConditionTrue:
		r.Recorder.Eventf(obj, nil, "Normal", "Recovered", "Refresh", "%s", now.Message)
	case now.Status != metav1.ConditionTrue && (before == nil || before.Status == metav1.ConditionTrue || before.Reason != now.Reason):
		r.Recorder.Eventf(obj, nil, "Warning", now.Reason, "Refresh", "%s", now.Message)
	}
}

// announceSignals emits one event per run that saw new HAMA crosses.
func (r *AnalysisScheduleReconciler) announceSignals(obj *analysisv1alpha1.AnalysisSchedule, signals []analysis.SignalChange) {
	if len(signals) == 0 {
		return
	}
	parts := make([]string, 0, min(len(signals), maxSignalsInEvent)+1)
	for _, s := range signals[:min(len(signals), maxSignalsInEvent)] {
		parts = append(parts, fmt.Sprintf("%s %s crossed %s", s.Symbol, s.Timeframe, s.Direction))
	}
	if extra := len(signals) - maxSignalsInEvent; extra > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", extra))
	}
	r.Recorder.Eventf(obj, nil, "Normal", "SignalChanged", "Refresh", "%s", strings.Join(parts, "; "))
}

func toSymbols(in []string) []analysisv1alpha1.Symbol {
	out := make([]analysisv1alpha1.Symbol, len(in))
	for i, s := range in {
		out[i] = analysisv1alpha1.Symbol(s)
	}
	return out
}

// runTimeout bounds one run: two intervals, and at least a minute for short intervals.
func runTimeout(interval time.Duration) time.Duration { return max(2*interval, time.Minute) }

func metaTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
