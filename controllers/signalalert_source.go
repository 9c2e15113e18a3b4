package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
	"github.com/hama-operator/hama-operator/internal/dispatch"
	"github.com/hama-operator/hama-operator/internal/notify"
)

// defaultProviderTimeout matches the CRD's default of spec.provider.timeout.
const defaultProviderTimeout = 10 * time.Second

// AlertSource is the delivery worker's view of the cluster (dispatch.Alerts), read from the
// manager's informer cache: the alerts, the schedules they select, and their receivers' Secrets.
type AlertSource struct {
	Client client.Reader
}

var _ dispatch.Alerts = (*AlertSource)(nil)

// Active lists every SignalAlert that can deliver — not suspended, and its Secret makes a receiver
// (Ready) — with the schedules it selects and the symbols those cover (spec.symbols, or the last
// run's resolved top gainers). An alert that cannot deliver takes no events, as its Ready=False
// says, rather than piling up deliveries nobody may ever receive.
func (s *AlertSource) Active(ctx context.Context) ([]dispatch.Alert, error) {
	var alerts analysisv1alpha1.SignalAlertList
	if err := s.Client.List(ctx, &alerts); err != nil {
		return nil, err
	}
	schedules := map[string][]analysisv1alpha1.AnalysisSchedule{} // by namespace, listed once
	var out []dispatch.Alert
	for _, a := range alerts.Items {
		if a.Spec.Suspend {
			continue
		}
		if _, err := resolveReceiver(ctx, s.Client, &a); err != nil {
			continue
		}
		inNamespace, ok := schedules[a.Namespace]
		if !ok {
			var list analysisv1alpha1.AnalysisScheduleList
			if err := s.Client.List(ctx, &list, client.InNamespace(a.Namespace)); err != nil {
				return nil, err
			}
			inNamespace = list.Items
			schedules[a.Namespace] = inNamespace
		}
		selected, err := selectSchedules(&a, inNamespace)
		if err != nil {
			continue // the API server validates selectors; one that fails here selects nothing
		}
		out = append(out, toDispatchAlert(&a, selected))
	}
	return out, nil
}

func selectSchedules(a *analysisv1alpha1.SignalAlert, all []analysisv1alpha1.AnalysisSchedule,
) ([]analysisv1alpha1.AnalysisSchedule, error) {
	switch {
	case a.Spec.ScheduleSelector != nil:
		sel, err := metav1.LabelSelectorAsSelector(a.Spec.ScheduleSelector)
		if err != nil {
			return nil, err
		}
		var out []analysisv1alpha1.AnalysisSchedule
		for _, s := range all {
			if sel.Matches(labels.Set(s.Labels)) {
				out = append(out, s)
			}
		}
		return out, nil
	case len(a.Spec.Schedules) > 0:
		var out []analysisv1alpha1.AnalysisSchedule
		for _, s := range all {
			if slices.Contains(a.Spec.Schedules, s.Name) {
				out = append(out, s)
			}
		}
		return out, nil
	}
	return all, nil
}

func toDispatchAlert(a *analysisv1alpha1.SignalAlert, selected []analysisv1alpha1.AnalysisSchedule) dispatch.Alert {
	d := dispatch.Alert{Namespace: a.Namespace, Name: a.Name, Provider: string(a.Spec.Provider.Type)}
	for _, e := range a.Spec.Events {
		d.Events = append(d.Events, string(e))
	}
	if len(d.Events) == 0 { // the CRD's default, for objects stored before it applied
		d.Events = []string{"crossUp", "crossDown"}
	}
	for _, s := range a.Spec.Symbols {
		d.Symbols = append(d.Symbols, string(s))
	}
	for _, tf := range a.Spec.Timeframes {
		d.Timeframes = append(d.Timeframes, string(tf))
	}
	if a.Spec.Cooldown != nil {
		d.Cooldown = a.Spec.Cooldown.Duration
	}
	for _, s := range selected {
		d.Schedules = append(d.Schedules, s.Name)
		for _, sym := range coveredBy(&s) {
			d.Covered = append(d.Covered, string(sym))
		}
	}
	return d
}

// Receiver resolves an alert's receiver from its Secret at each attempt.
func (s *AlertSource) Receiver(ctx context.Context, namespace, name string) (dispatch.Receiver, error) {
	alert := &analysisv1alpha1.SignalAlert{}
	if err := s.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, alert); err != nil {
		if apierrors.IsNotFound(err) {
			return dispatch.Receiver{}, fmt.Errorf("%s/%s: %w", namespace, name, dispatch.ErrNoAlert)
		}
		return dispatch.Receiver{}, err
	}
	if alert.Spec.Suspend {
		return dispatch.Receiver{}, fmt.Errorf("%s/%s: %w", namespace, name, dispatch.ErrNoAlert)
	}
	return resolveReceiver(ctx, s.Client, alert)
}

// invalidSecretError says the Secret exists but does not make a usable receiver.
type invalidSecretError struct{ error }

// resolveReceiver reads the alert's Secret into a receiver. Its errors are a NotFound API error
// for a missing Secret, invalidSecretError for an unusable one, or the read's error.
func resolveReceiver(ctx context.Context, c client.Reader, alert *analysisv1alpha1.SignalAlert) (dispatch.Receiver, error) {
	ref := alert.Spec.Provider.SecretRef
	if ref == nil { // refused by the API server; kept for objects from before the rule
		return dispatch.Receiver{}, invalidSecretError{fmt.Errorf("spec.provider.secretRef is not set")}
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: alert.Namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return dispatch.Receiver{}, apierrors.NewNotFound(corev1.Resource("secrets"), ref.Name)
		}
		return dispatch.Receiver{}, err
	}
	target, err := notify.TargetFromSecret(string(alert.Spec.Provider.Type), secret.Data)
	if err != nil {
		return dispatch.Receiver{}, invalidSecretError{fmt.Errorf("the provider's Secret %s: %w", ref.Name, err)}
	}
	timeout := defaultProviderTimeout
	if t := alert.Spec.Provider.Timeout; t != nil && t.Duration > 0 {
		timeout = t.Duration
	}
	return dispatch.Receiver{Target: target, Timeout: timeout}, nil
}
