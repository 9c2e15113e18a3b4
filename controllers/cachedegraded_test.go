package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// While Redis is down a degraded schedule is looked at again within cacheRecheck; once it is back
// the condition goes at the next look, whatever the schedule's own timing.
func TestRecheckCacheClearsCacheDegradedWhenRedisIsBack(t *testing.T) {
	degraded := true
	r := &AnalysisScheduleReconciler{CacheDegraded: func() bool { return degraded }}
	obj := &analysisv1alpha1.AnalysisSchedule{}
	if got := r.recheckCache(obj, ctrl.Result{RequeueAfter: time.Hour}); got.RequeueAfter != time.Hour {
		t.Fatalf("without the condition: requeue after %s, want the schedule's hour", got.RequeueAfter)
	}
	setCondition(obj, analysisv1alpha1.ConditionCacheDegraded, metav1.ConditionTrue, ReasonRedisDown, "down")
	for in, want := range map[time.Duration]time.Duration{time.Hour: cacheRecheck, 0: cacheRecheck, time.Second: time.Second} {
		if got := r.recheckCache(obj, ctrl.Result{RequeueAfter: in}); got.RequeueAfter != want {
			t.Errorf("degraded, next look in %s: requeue after %s, want %s", in, got.RequeueAfter, want)
		}
	}
	if meta.FindStatusCondition(obj.Status.Conditions, analysisv1alpha1.ConditionCacheDegraded) == nil {
		t.Fatal("the condition went while Redis is still down")
	}
	degraded = false
	if got := r.recheckCache(obj, ctrl.Result{RequeueAfter: time.Hour}); got.RequeueAfter != time.Hour {
		t.Fatalf("after recovery: requeue after %s, want the schedule's hour", got.RequeueAfter)
	}
	if meta.FindStatusCondition(obj.Status.Conditions, analysisv1alpha1.ConditionCacheDegraded) != nil {
		t.Fatal("the condition stayed after Redis came back")
	}
}
