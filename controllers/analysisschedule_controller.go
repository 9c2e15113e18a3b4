/*
Copyright 2026 The hama-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package controllers holds the Kubernetes glue: it turns AnalysisSchedules into refresh runs and
// the runs' outcomes into status, events and metrics.
package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/refresh"
)

// Finalizer lets the operator remove a deleted schedule's cache entries before the object goes.
const Finalizer = "analysis.hama-operator.io/cache-cleanup"

// RunMetrics records refresh runs; the metrics package implements it.
type RunMetrics interface {
	// ObserveRun counts a run; result is "success", "partial" or "failure".
	ObserveRun(namespace, name, result string, duration time.Duration)
	SetLastSuccess(namespace, name string, at time.Time)
	// TrackSchedule exports an active schedule's interval, creation time and last success (from its
	// status), and its run counters at zero; UntrackSchedule drops the first two while it is suspended.
	TrackSchedule(namespace, name string, interval time.Duration, created time.Time, lastSuccess *time.Time)
	UntrackSchedule(namespace, name string)
	// Forget drops the series of a deleted schedule.
	Forget(namespace, name string)
}

// CachedResults tells which symbols have no result in the cache; the refresh pipeline's cache
// implements it (cmd wires it).
type CachedResults interface {
	Missing(ctx context.Context, symbols []string) ([]string, error)
}

// defaultResultsCheckInterval is how often a waiting schedule looks for its results in the cache.
const defaultResultsCheckInterval = 30 * time.Second

// AnalysisScheduleReconciler runs each AnalysisSchedule's refreshes on time.
type AnalysisScheduleReconciler struct {
	client.Client
	Recorder  events.EventRecorder
	Refresher refresh.Refresher
	Metrics   RunMetrics
	// CacheDegraded reports whether Redis is configured but not serving now; nil means never. A
	// schedule marked CacheDegraded looks again every cacheRecheck, so that the condition clears
	// within seconds of Redis' return instead of at the next run.
	CacheDegraded func() bool
	// Clock drives the timing: plans read it and, when set, requeues wait on it, so a test's fake
	// clock controls both. Nil means the real clock and controller-runtime's default queue.
	Clock clock.WithTicker
	// JitterPercentage spreads runs by up to this share of their interval.
	JitterPercentage float64
	// MaxConcurrentRuns caps how many schedules refresh at the same time.
	MaxConcurrentRuns int
	// Results, when set, is asked whether a waiting schedule's results are still cached: at the
	// first look after a start or a leader change, then every ResultsCheckInterval (default 30s).
	// A schedule whose results are gone runs at once instead of at its next run time.
	Results              CachedResults
	ResultsCheckInterval time.Duration
	// Streams runs stream-mode schedules (spec.source.mode: stream); their runs become resyncs.
	Streams Streams
	// APIReader reads around the informer's cache when it is behind this process' own writes.
	APIReader client.Reader

	scheduler    scheduler
	streamEvents chan event.GenericEvent // StreamChanged → a reconcile
	seen         sync.Map                // types.NamespacedName → struct{}: schedules this process has looked at
	lastRuns     sync.Map                // types.NamespacedName → written: the last run this process recorded
}

// +kubebuilder:rbac:groups=analysis.hama-operator.io,resources=analysisschedules,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=analysis.hama-operator.io,resources=analysisschedules/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=analysis.hama-operator.io,resources=analysisschedules/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile handles deletion, the finalizer, suspension and then the run, in that order, and patches
// the status once at the end.
func (r *AnalysisScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &analysisv1alpha1.AnalysisSchedule{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, obj)
	}
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		patch := client.MergeFrom(obj.DeepCopy())
		controllerutil.AddFinalizer(obj, Finalizer)
		if err := r.Patch(ctx, obj, patch); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}

	if err := r.catchUpCache(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	_, seenBefore := r.seen.LoadOrStore(req.NamespacedName, struct{}{})
	st := &statusPatcher{client: r.Client, base: obj.DeepCopy()}
	result, err := r.reconcileSchedule(ctx, obj, !seenBefore, st)
	result = r.recheckCache(obj, result)
	err = errors.Join(err, st.patch(ctx, obj))
	if t := obj.Status.LastRunTime; t != nil {
		r.lastRuns.Store(req.NamespacedName, written{run: t.Time, generation: obj.Status.ObservedGeneration})
	}
	return result, err
}

// written is what this process last wrote into a schedule's status.
type written struct {
	run        time.Time
	generation int64
}

// catchUpCache reads obj from the API server when the informer's copy predates a run this process
// already recorded: a reconcile queued during a run (a stream's connection change) would otherwise
// plan from the status before that run and run again.
func (r *AnalysisScheduleReconciler) catchUpCache(ctx context.Context, key types.NamespacedName,
	obj *analysisv1alpha1.AnalysisSchedule) error {
	v, ok := r.lastRuns.Load(key)
	if !ok || r.APIReader == nil {
		return nil
	}
	last := v.(written)
	if t := obj.Status.LastRunTime; t != nil && !t.Time.Before(last.run) && obj.Status.ObservedGeneration >= last.generation {
		return nil
	}
	return r.APIReader.Get(ctx, key, obj)
}

func (r *AnalysisScheduleReconciler) reconcileSchedule(ctx context.Context, obj *analysisv1alpha1.AnalysisSchedule,
	firstSight bool, st *statusPatcher) (ctrl.Result, error) {
	if obj.Spec.Suspend {
		r.stopStream(obj)
		r.Metrics.UntrackSchedule(obj.Namespace, obj.Name)
		obj.Status.ObservedGeneration = obj.Generation
		obj.Status.NextRunTime = nil
		markIdle(obj, ReasonSuspended, "schedule is suspended; cached results stay until their ttl")
		markSuspended(obj)
		return ctrl.Result{}, nil
	}

	var lastSuccess *time.Time
	if t := obj.Status.LastSuccessfulRunTime; t != nil {
		lastSuccess = &t.Time
	}
	r.Metrics.TrackSchedule(obj.Namespace, obj.Name, obj.Spec.Interval.Duration, obj.CreationTimestamp.Time, lastSuccess)

	job, err := jobFor(obj)
	if err == nil && job.Stream && r.Streams == nil {
		err = invalidSpecError{"this operator runs without stream support: use spec.source.mode poll"}
	}
	if err != nil || !job.Stream {
		r.stopStream(obj) // a stalled spec must not keep streaming with the settings it had
	}
	if err != nil {
		r.stall(obj, err)
		return ctrl.Result{}, nil
	}
	clearStalled(obj)
	if job.Stream {
		defer r.showStream(obj)
	}

	now := r.now()
	in := planInputFor(obj, now, firstSight)
	p := r.scheduler.plan(in)
	if !p.due && r.Results != nil {
		p = refill(p, in, r.missingResults(ctx, obj), r.resultsCheckInterval())
	}
	if !p.due {
		obj.Status.NextRunTime = metaTime(p.at)
		return ctrl.Result{RequeueAfter: r.untilNextLook(p.at.Sub(now))}, nil
	}
	if err := r.run(ctx, obj, job, p.reason, st); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: max(obj.Status.NextRunTime.Sub(r.now()), 0)}, nil
}

// cacheRecheck is how often a schedule marked CacheDegraded looks at the cache again.
const cacheRecheck = 5 * time.Second

// recheckCache removes the CacheDegraded condition once Redis serves again; while it does not, the
// schedule is reconciled again within cacheRecheck.
func (r *AnalysisScheduleReconciler) recheckCache(obj *analysisv1alpha1.AnalysisSchedule, result ctrl.Result) ctrl.Result {
	if r.CacheDegraded == nil || meta.FindStatusCondition(obj.Status.Conditions, analysisv1alpha1.ConditionCacheDegraded) == nil {
		return result
	}
	if !r.CacheDegraded() {
		meta.RemoveStatusCondition(&obj.Status.Conditions, analysisv1alpha1.ConditionCacheDegraded)
		return result
	}
	if result.RequeueAfter <= 0 || result.RequeueAfter > cacheRecheck {
		result.RequeueAfter = cacheRecheck
	}
	return result
}

// missingResults counts the schedule's symbols whose results are not cached, beyond those the last
// run failed (they have none to lose; failures past the status' list are subtracted as a count). A
// cache that cannot answer counts nothing missing: the schedule keeps its time.
func (r *AnalysisScheduleReconciler) missingResults(ctx context.Context, obj *analysisv1alpha1.AnalysisSchedule) int {
	symbols := make([]string, len(obj.Spec.Symbols))
	for i, s := range obj.Spec.Symbols {
		symbols[i] = string(s)
	}
	missing, err := r.Results.Missing(ctx, symbols)
	if err != nil {
		logf.FromContext(ctx).V(1).Info("cannot tell whether the results are cached", "error", err.Error())
		return 0
	}
	failed := make(map[string]bool, len(obj.Status.FailedSymbols))
	for _, f := range obj.Status.FailedSymbols {
		failed[f.Symbol] = true
	}
	unlisted := max(int(obj.Status.Symbols.Failed)-len(obj.Status.FailedSymbols), 0)
	n := 0
	for _, s := range missing {
		if !failed[s] {
			n++
		}
	}
	return max(n-unlisted, 0)
}

func (r *AnalysisScheduleReconciler) resultsCheckInterval() time.Duration {
	if r.ResultsCheckInterval > 0 {
		return r.ResultsCheckInterval
	}
	return defaultResultsCheckInterval
}

// untilNextLook is when a waiting schedule is reconciled again: at its run, or sooner to look for
// its results in the cache.
func (r *AnalysisScheduleReconciler) untilNextLook(untilRun time.Duration) time.Duration {
	if r.Results == nil {
		return untilRun
	}
	return min(untilRun, r.resultsCheckInterval())
}

// stall marks a spec the analysis cannot use; nothing runs until the spec changes.
func (r *AnalysisScheduleReconciler) stall(obj *analysisv1alpha1.AnalysisSchedule, err error) {
	previous := readyCondition(obj)
	obj.Status.ObservedGeneration = obj.Generation
	obj.Status.NextRunTime = nil
	markStalled(obj, err.Error())
	markIdle(obj, ReasonInvalidSpec, "waiting for a spec change")
	if previous == nil || previous.Message != err.Error() {
		r.Recorder.Eventf(obj, nil, "Warning", ReasonInvalidSpec, "Refresh", "%s", err.Error())
	}
}

func (r *AnalysisScheduleReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

func planInputFor(obj *analysisv1alpha1.AnalysisSchedule, now time.Time, firstSight bool) planInput {
	in := planInput{
		now:                now,
		interval:           obj.Spec.Interval.Duration,
		generation:         obj.Generation,
		observedGeneration: obj.Status.ObservedGeneration,
		refreshRequest:     obj.Annotations[analysisv1alpha1.RefreshRequestedAtAnnotation],
		lastHandledRefresh: obj.Status.LastHandledRefreshAt,
		firstSight:         firstSight,
	}
	if t := obj.Status.LastRunTime; t != nil {
		in.lastRun = &t.Time
	}
	if t := obj.Status.NextRunTime; t != nil {
		in.nextRun = &t.Time
	}
	return in
}

// statusPatcher patches the status against the last version written, and only when it changed.
type statusPatcher struct {
	client client.Client
	base   *analysisv1alpha1.AnalysisSchedule
}

func (p *statusPatcher) patch(ctx context.Context, obj *analysisv1alpha1.AnalysisSchedule) error {
	if equality.Semantic.DeepEqual(p.base.Status, obj.Status) {
		return nil
	}
	if err := p.client.Status().Patch(ctx, obj, client.MergeFrom(p.base)); err != nil {
		return client.IgnoreNotFound(err)
	}
	p.base = obj.DeepCopy()
	return nil
}

// SetupWithManager registers the controller. Status-only updates (our own patches) do not trigger a
// reconcile: runs are driven by RequeueAfter, spec changes, annotations and deletion.
func (r *AnalysisScheduleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.scheduler = newScheduler(r.JitterPercentage)
	if r.MaxConcurrentRuns < 1 {
		r.MaxConcurrentRuns = 1
	}
	deletionStarted := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
	opts := controller.Options{MaxConcurrentReconciles: r.MaxConcurrentRuns}
	if r.Clock != nil {
		opts.NewQueue = func(name string, rl workqueue.TypedRateLimiter[reconcile.Request],
		) workqueue.TypedRateLimitingInterface[reconcile.Request] {
			return workqueue.NewTypedRateLimitingQueueWithConfig(rl,
				workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{Name: name, Clock: r.Clock})
		}
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&analysisv1alpha1.AnalysisSchedule{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted))).
		WithOptions(opts).
		Named("analysisschedule")
	if r.Streams != nil {
		r.streamEvents = make(chan event.GenericEvent, 1024)
		b = b.WatchesRawSource(source.Channel(r.streamEvents, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

// forget drops what this process remembers of a schedule.
func (r *AnalysisScheduleReconciler) forget(key types.NamespacedName) {
	r.seen.Delete(key)
	r.lastRuns.Delete(key)
}
