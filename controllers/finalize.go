package controllers

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// finalize removes the cache entries of symbols no other schedule covers, drops the schedule's
// metrics and lets the object go.
func (r *AnalysisScheduleReconciler) finalize(ctx context.Context, obj *analysisv1alpha1.AnalysisSchedule) error {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	r.stopStream(obj)
	orphans, err := r.uncoveredSymbols(ctx, obj)
	if err != nil {
		return err
	}
	if err := r.Refresher.Evict(ctx, orphans); err != nil {
		r.Recorder.Eventf(obj, nil, "Warning", "CleanupFailed", "Delete", "removing %d cached symbols: %v", len(orphans), err)
		return fmt.Errorf("evicting cached symbols: %w", err)
	}
	r.Metrics.Forget(obj.Namespace, obj.Name)
	r.forget(types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name})

	patch := client.MergeFrom(obj.DeepCopy())
	controllerutil.RemoveFinalizer(obj, Finalizer)
	return client.IgnoreNotFound(r.Patch(ctx, obj, patch))
}

// uncoveredSymbols are obj's symbols that no other live schedule, in any namespace, still covers:
// the cache is shared, so another schedule's entries must survive this deletion.
func (r *AnalysisScheduleReconciler) uncoveredSymbols(ctx context.Context, obj *analysisv1alpha1.AnalysisSchedule) ([]string, error) {
	var all analysisv1alpha1.AnalysisScheduleList
	if err := r.List(ctx, &all); err != nil {
		return nil, fmt.Errorf("listing schedules: %w", err)
	}
	covered := map[analysisv1alpha1.Symbol]bool{}
	for i := range all.Items {
		other := &all.Items[i]
		if other.UID == obj.UID || !other.DeletionTimestamp.IsZero() {
			continue
		}
		for _, s := range coveredBy(other) {
			covered[s] = true
		}
	}
	var orphans []string
	for _, s := range coveredBy(obj) {
		if !covered[s] {
			orphans = append(orphans, string(s))
		}
	}
	return orphans, nil
}

// coveredBy are the symbols whose cached results a schedule may have written: its list, and the
// gainers its last run resolved.
func coveredBy(s *analysisv1alpha1.AnalysisSchedule) []analysisv1alpha1.Symbol {
	return append(slices.Clone(s.Spec.Symbols), s.Status.ResolvedSymbols...)
}
