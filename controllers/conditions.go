package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// Condition reasons.
const (
	ReasonSucceeded     = "Succeeded"
	ReasonSymbolsFailed = "SymbolsFailed"
	ReasonRefreshFailed = "RefreshFailed"
	ReasonInvalidSpec   = "InvalidSpec"
	ReasonProgressing   = "Progressing"
	ReasonSuspended     = "Suspended"
	ReasonIdle          = "Idle"
	ReasonRedisDown     = "RedisUnavailable"
)

// conditioned is a resource with status conditions: AnalysisSchedule and SignalAlert.
type conditioned interface {
	GetGeneration() int64
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// setCondition sets a condition of obj, observed at obj's generation.
func setCondition(obj conditioned, typ string, status metav1.ConditionStatus, reason, msg string) {
	conditions := obj.GetConditions()
	meta.SetStatusCondition(&conditions, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            msg,
		ObservedGeneration: obj.GetGeneration(),
	})
	obj.SetConditions(conditions)
}

func markReconciling(s *analysisv1alpha1.AnalysisSchedule, reason runReason) {
	setCondition(s, analysisv1alpha1.ConditionReconciling, metav1.ConditionTrue, ReasonProgressing,
		"refresh in progress ("+string(reason)+")")
}

func markIdle(s *analysisv1alpha1.AnalysisSchedule, reason, msg string) {
	setCondition(s, analysisv1alpha1.ConditionReconciling, metav1.ConditionFalse, reason, msg)
}

func markStalled(s *analysisv1alpha1.AnalysisSchedule, msg string) {
	setCondition(s, analysisv1alpha1.ConditionStalled, metav1.ConditionTrue, ReasonInvalidSpec, msg)
	setCondition(s, analysisv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonInvalidSpec, msg)
}

// markSuspended sets Ready=True with reason Suspended: a suspended schedule is in the state its spec
// asks for, so kstatus-based tools (kubectl wait, Helm, Flux, Argo CD) see it as current rather than
// waiting forever on a Ready condition that never comes. The outcome of the last run stays in the
// message.
func markSuspended(s *analysisv1alpha1.AnalysisSchedule) {
	msg := "schedule is suspended; cached results stay until their ttl"
	if prev := readyCondition(s); prev != nil {
		if prev.Reason == ReasonSuspended {
			msg = prev.Message
		} else {
			msg += "; last run: " + prev.Reason + ": " + prev.Message
		}
	}
	setCondition(s, analysisv1alpha1.ConditionReady, metav1.ConditionTrue, ReasonSuspended, msg)
}

func clearStalled(s *analysisv1alpha1.AnalysisSchedule) {
	meta.RemoveStatusCondition(&s.Status.Conditions, analysisv1alpha1.ConditionStalled)
}

func readyCondition(obj conditioned) *metav1.Condition {
	return meta.FindStatusCondition(obj.GetConditions(), analysisv1alpha1.ConditionReady)
}
