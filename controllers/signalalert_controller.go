package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/dispatch"
)

// SignalAlert condition reasons.
const (
	ReasonSecretNotFound      = "SecretNotFound"
	ReasonInvalidSecret       = "InvalidSecret"
	ReasonProviderRejected    = "ProviderRejected"
	ReasonProviderUnreachable = "ProviderUnreachable"
	ReasonRedisRequired       = "RedisRequired"
	ReasonDeliveryStateError  = "DeliveryStateUnavailable"
)

// secretRefIndex indexes SignalAlerts by the Secret they name, so a Secret's change reaches them.
const secretRefIndex = "spec.provider.secretRef.name"

// DeliveryStats reads and forgets an alert's delivery counts; dispatch.Store implements it.
type DeliveryStats interface {
	Stats(ctx context.Context, namespace, alert string) (dispatch.Stats, error)
	Forget(ctx context.Context, namespace, alert string) error
}

// AlertMetrics creates and drops an alert's notification series; the metrics package implements it.
type AlertMetrics interface {
	TrackAlert(namespace, name, provider string)
	ForgetAlert(namespace, name string)
}

// SignalAlertReconciler writes each SignalAlert's status: whether its Secret makes a usable
// receiver, and what the delivery worker (internal/dispatch) recorded in Redis — counts, the last
// delivery, the last failure. It is the only writer of that status; the worker reports outcomes
// (Report), which records a Kubernetes Event on failures and reconciles the alert again.
type SignalAlertReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Deliveries is nil when Redis is not configured: delivery state lives there, so alerts cannot
	// deliver and say so.
	Deliveries DeliveryStats
	Metrics    AlertMetrics

	outcomes chan event.TypedGenericEvent[*analysisv1alpha1.SignalAlert]
}

// +kubebuilder:rbac:groups=analysis.hama-operator.io,resources=signalalerts,verbs=get;list;watch
// +kubebuilder:rbac:groups=analysis.hama-operator.io,resources=signalalerts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// Reconcile computes the status from the Secret and the delivery counts and patches it when it changed.
func (r *SignalAlertReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	alert := &analysisv1alpha1.SignalAlert{}
	if err := r.Get(ctx, req.NamespacedName, alert); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.ForgetAlert(req.Namespace, req.Name)
			if r.Deliveries != nil {
				return ctrl.Result{}, r.Deliveries.Forget(ctx, req.Namespace, req.Name)
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := alert.DeepCopy()
	r.Metrics.TrackAlert(alert.Namespace, alert.Name, string(alert.Spec.Provider.Type))
	requeue := r.computeStatus(ctx, alert)
	if now := readyCondition(alert); now != nil && now.Reason == ReasonSecretNotFound {
		if prev := readyCondition(base); prev == nil || prev.Reason != now.Reason {
			r.Recorder.Eventf(alert, nil, corev1.EventTypeWarning, ReasonSecretNotFound, "Deliver", "%s", now.Message)
		}
	}
	if !equality.Semantic.DeepEqual(base.Status, alert.Status) {
		if err := r.Status().Patch(ctx, alert, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// computeStatus fills alert.Status; it returns when to look again, for a state no watch announces.
func (r *SignalAlertReconciler) computeStatus(ctx context.Context, alert *analysisv1alpha1.SignalAlert) time.Duration {
	alert.Status.ObservedGeneration = alert.Generation
	ready := func(status metav1.ConditionStatus, reason, msg string) {
		setCondition(alert, analysisv1alpha1.ConditionReady, status, reason, msg)
	}
	if _, err := resolveReceiver(ctx, r.Client, alert); err != nil {
		var invalid invalidSecretError
		switch {
		case errors.As(err, &invalid):
			ready(metav1.ConditionFalse, ReasonInvalidSecret, err.Error())
			setCondition(alert, analysisv1alpha1.ConditionStalled, metav1.ConditionTrue, ReasonInvalidSecret, err.Error())
		case apierrors.IsNotFound(err):
			ready(metav1.ConditionFalse, ReasonSecretNotFound, fmt.Sprintf("Secret %s/%s (spec.provider.secretRef) not found",
				alert.Namespace, alert.Spec.Provider.SecretRef.Name))
			meta.RemoveStatusCondition(&alert.Status.Conditions, analysisv1alpha1.ConditionStalled)
		default:
			logf.FromContext(ctx).Error(err, "reading the provider's Secret")
			return 10 * time.Second
		}
		return 0 // the Secret's watch brings the alert back
	}
	meta.RemoveStatusCondition(&alert.Status.Conditions, analysisv1alpha1.ConditionStalled)

	if r.Deliveries == nil {
		ready(metav1.ConditionFalse, ReasonRedisRequired,
			"notifications need Redis (--redis-enabled): the signal history and the delivery state live there")
		return 0
	}
	st, err := r.Deliveries.Stats(ctx, alert.Namespace, alert.Name)
	if err != nil {
		ready(metav1.ConditionUnknown, ReasonDeliveryStateError, "cannot read the delivery state from Redis: "+err.Error())
		return 10 * time.Second
	}
	alert.Status.Deliveries = analysisv1alpha1.DeliveryCounts{Sent: st.Sent, Failed: st.Failed}
	if !st.LastDelivery.IsZero() {
		alert.Status.LastDeliveryTime = &metav1.Time{Time: st.LastDelivery.Truncate(time.Second)}
	}
	switch {
	case alert.Spec.Suspend:
		ready(metav1.ConditionTrue, ReasonSuspended, "alert is suspended: events are not delivered")
	case st.LastResult == dispatch.ResultRejected:
		ready(metav1.ConditionFalse, ReasonProviderRejected, "the receiver refused the last notification: "+st.LastError)
	case st.LastResult == dispatch.ResultRetrying:
		ready(metav1.ConditionFalse, ReasonProviderUnreachable, "retrying the last notification: "+st.LastError)
	case st.LastResult == dispatch.ResultUnreachable:
		ready(metav1.ConditionFalse, ReasonProviderUnreachable, "the last notification was given up: "+st.LastError)
	default:
		ready(metav1.ConditionTrue, ReasonSucceeded,
			fmt.Sprintf("delivering to the %s receiver; %d sent, %d failed", alert.Spec.Provider.Type, st.Sent, st.Failed))
	}
	return 0
}

// Report takes a delivery outcome from the worker: a Warning Event when a delivery is refused,
// first fails, or is given up, and a reconcile so the status shows it. It never blocks the worker.
func (r *SignalAlertReconciler) Report(o dispatch.Outcome) {
	ctx := context.Background()
	alert := &analysisv1alpha1.SignalAlert{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Alert}, alert); err != nil {
		return
	}
	switch o.Result {
	case dispatch.ResultRejected:
		r.Recorder.Eventf(alert, nil, corev1.EventTypeWarning, ReasonProviderRejected, "Deliver",
			"event %s refused, not retried: %v", o.EventID, o.Err)
	case dispatch.ResultUnreachable:
		r.Recorder.Eventf(alert, nil, corev1.EventTypeWarning, ReasonProviderUnreachable, "Deliver",
			"event %s given up: %v", o.EventID, o.Err)
	case dispatch.ResultRetrying:
		if o.Attempt == 1 { // one Event per delivery that fails, not one per retry of an outage
			r.Recorder.Eventf(alert, nil, corev1.EventTypeWarning, ReasonProviderUnreachable, "Deliver",
				"event %s not delivered, retrying from %s: %v", o.EventID, o.Next.UTC().Format(time.RFC3339), o.Err)
		}
	}
	select {
	case r.outcomes <- event.TypedGenericEvent[*analysisv1alpha1.SignalAlert]{Object: alert}:
	default: // the queue is full of reconciles already: one of them reads the same counts
	}
}

// SetupWithManager registers the controller: SignalAlerts, the Secrets they name, and the worker's
// outcomes.
func (r *SignalAlertReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.outcomes = make(chan event.TypedGenericEvent[*analysisv1alpha1.SignalAlert], 1024)
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &analysisv1alpha1.SignalAlert{}, secretRefIndex,
		func(o client.Object) []string {
			if ref := o.(*analysisv1alpha1.SignalAlert).Spec.Provider.SecretRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		}); err != nil {
		return err
	}
	alertsOfSecret := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var list analysisv1alpha1.SignalAlertList
		if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{secretRefIndex: o.GetName()}); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, len(list.Items))
		for i, a := range list.Items {
			reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&a)}
		}
		return reqs
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&analysisv1alpha1.SignalAlert{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, alertsOfSecret).
		WatchesRawSource(source.Channel(r.outcomes, &handler.TypedEnqueueRequestForObject[*analysisv1alpha1.SignalAlert]{})).
		Named("signalalert").
		Complete(r)
}
